"""Lesson 14: "Explain backpressure in Kafka and how you would manage it", answered from your own numbers.

:func:`answer` reads the numbers the lessons stored (:func:`kafkabp.remember`) and assembles a structured answer:
definition, symptoms, how to measure, each mitigation with what it bought on this machine and its trade-off.
Where a number is missing it says which lesson to run. A lesson that stores numbers this module does not know yet
still joins in, under "more numbers you measured". :func:`quiz` makes multiple-choice widgets with feedback.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from kafkabp.measurements import Measurement, recall

# The course map's lessons (a lesson not listed here is named by its notebook's file name, if found).
LESSONS: dict[str, tuple[str, str]] = {
    "00": ("Setup", "00_setup.ipynb"),
    "01": ("Creating backpressure", "01_creating_backpressure.ipynb"),
    "02": ("Measuring lag", "02_measuring_lag.ipynb"),
    "03": ("Scaling consumers", "03_scaling_consumers.ipynb"),
    "04": ("Faster processing", "04_faster_processing.ipynb"),
    "05": ("Poll and fetch tuning", "05_poll_and_fetch_tuning.ipynb"),
    "06": ("Producer batching", "06_producer_batching.ipynb"),
    "07": ("Rate limiting producers", "07_rate_limiting_producers.ipynb"),
    "08": ("Broker quotas", "08_broker_quotas.ipynb"),
    "09": ("Pause and resume", "09_pause_resume.ipynb"),
    "10": ("Retention and data loss", "10_retention_data_loss.ipynb"),
    "11": ("Autoscaling on lag", "11_autoscaling_on_lag.ipynb"),
    "12": ("Beyond partitions", "12_beyond_partitions.ipynb"),
    "13": ("Playground", "13_playground.ipynb"),
    "14": ("Interview prep", "14_interview_prep.ipynb"),
    "15": ("Replication backpressure", "15_replication_backpressure.ipynb"),
    "16": ("Head-of-line blocking", "16_head_of_line_blocking.ipynb"),
    "17": ("Async consumers", "17_async_consumers.ipynb"),
}

Numbers = Mapping[str, Measurement]


def lesson_link(lesson: str, notebooks: Path | str | None = None) -> str:
    """A markdown link to a lesson's notebook (relative: the answer is shown in notebooks/); with ``notebooks`` (the
    folder), plain text for a lesson whose notebook is not there."""
    notebooks = Path(notebooks) if notebooks is not None else None
    title, file = LESSONS.get(lesson, (None, None))
    if notebooks is not None and (title is None or not (notebooks / file).exists()):
        found = sorted(notebooks.glob(f"{lesson}_*.ipynb"))
        if found:
            file = found[0].name
            title = title or found[0].stem[3:].replace("_", " ").capitalize()
    if title is None:
        return f"lesson {lesson}"
    if notebooks is not None and not (notebooks / file).exists():
        return f"{lesson} · {title}"  # not written yet (or shown from elsewhere): no link that leads nowhere
    return f"[{lesson} · {title}]({file})"


@dataclass(frozen=True)
class Point:
    """One claim of the answer: what it says with your numbers, what it says without them, and the trade-off."""

    section: str  # "definition", "symptoms", "measure" or "mitigations"
    title: str
    lesson: str
    keys: tuple[str, ...]  # the numbers it quotes, all from ``lesson``
    measured: Callable[[Numbers], str]  # the sentence with your numbers (gets {key: Measurement})
    general: str  # the claim without numbers
    tradeoff: str = ""


def _n(m: Numbers, key: str) -> str:
    return m[key].text


def _note(m: Numbers, key: str) -> str:
    return f" ({m[key].note})" if m[key].note else ""


POINTS: tuple[Point, ...] = (
    Point("definition", "Arrival above service", "01", ("lag_slope",),
          lambda m: f"when I sent twice what one consumer could process, lag grew in a straight line at "
                    f"{_n(m, 'lag_slope')}{_note(m, 'lag_slope')}",
          "when messages arrive faster (λ) than the group can process them (μ), the difference piles up as "
          "consumer lag, growing at λ − μ for as long as it lasts"),
    Point("symptoms", "Latency", "01", ("latency_ratio",),
          lambda m: f"the typical message waited {_n(m, 'latency_ratio')} longer{_note(m, 'latency_ratio')}; "
                    "the producer saw no error at all",
          "end-to-end latency grows with the lag (a message waits about lag / μ), while the producer sees no error"),
    Point("symptoms", "Skew", "02", ("hot_partition_share",),
          lambda m: f"with one hot key, a single partition held {_n(m, 'hot_partition_share')} of the lag"
                    f"{_note(m, 'hot_partition_share')}",
          "lag concentrates on the partitions of a hot key or of the busiest consumer, while the group has "
          "capacity to spare"),
    Point("symptoms", "Data loss", "10", ("lost",),
          lambda m: f"once the time lag passed retention, {_n(m, 'lost')} were deleted before anyone read them"
                    f"{_note(m, 'lost')}, without an error on the consumer",
          "once the time lag passes the topic's retention, the broker deletes unread messages and the consumer "
          "jumps ahead silently"),
    Point("symptoms", "Replication pushes back", "15", ("frozen_follower_wait_s", "buffer_errors_min_insync"),
          lambda m: f"with `acks=all`, one frozen follower held every write for {_n(m, 'frozen_follower_wait_s')} "
                    f"until the leader dropped it from the ISR; with fewer live replicas than "
                    f"`min.insync.replicas`, writes stopped and `produce()` raised `BufferError` "
                    f"{_n(m, 'buffer_errors_min_insync')}{_note(m, 'buffer_errors_min_insync')}",
          "with `acks=all` a producer waits for every in-sync replica: a slow or lost follower raises produce "
          "latency, and below `min.insync.replicas` writes are refused until the producer's own queue is full"),
    Point("measure", "Offset lag and time lag", "02", ("time_lag_spread",),
          lambda m: f"the same offset lag meant time lags {_n(m, 'time_lag_spread')} apart"
                    f"{_note(m, 'time_lag_spread')}, "
                    "so I judge lag in seconds (time lag) and its trend (Burrow's rules), "
                    "not a fixed message count",
          "offset lag (log end − committed offset, `kafka-consumer-groups --describe`) per partition, time lag "
          "(the age of the oldest unprocessed message) and the trend over a window (Burrow's OK/WARN/STALL/STOP)",
          "a transactional producer leaves lag 1 on an idle topic, the commit marker's offset, although nothing is "
          "left to read (committing `position()` steps over it): alert on more than a marker"),
    Point("measure", "Alert before loss", "10", ("alert_lead_s",),
          lambda m: f"an alert on time lag against retention fired {_n(m, 'alert_lead_s')} before the first loss",
          "alert on time lag as a fraction of retention (and on a growing trend), not on a message count"),
    Point("mitigations", "Scale out consumers", "03", ("drain_s_1", "drain_s_4", "plateau_8_vs_4"),
          lambda m: f"one consumer drained a backlog in {_n(m, 'drain_s_1')}, four in {_n(m, 'drain_s_4')}"
                    f"{_note(m, 'drain_s_4')}; 8 consumers on 4 partitions did {_n(m, 'plateau_8_vs_4')} what 4 did",
          "more consumers raise μ up to one consumer per partition",
          "capped by the partition count (extra consumers sit idle); every join or leave is a rebalance that "
          "pauses processing"),
    Point("mitigations", "Deploy without rebalances", "03", ("rolling_rebalances",),
          lambda m: f"a rolling restart of 4 consumers cost {_n(m, 'rolling_rebalances')} of the whole group"
                    f"{_note(m, 'rolling_rebalances')}",
          "static membership (`group.instance.id`) lets a restarted consumer take its partitions back without a "
          "rebalance, so a rolling deploy does not stop the whole group at every step",
          "the restarting member's partitions wait while it is down, and one that never comes back holds them until "
          "`session.timeout.ms` passes (with KIP-848 a broker-side group config)"),
    Point("mitigations", "Make processing cheaper", "04", ("batch_speedup", "threads_speedup"),
          lambda m: f"one sink round trip per batch was {_n(m, 'batch_speedup')} faster{_note(m, 'batch_speedup')}; "
                    f"16 I/O-bound threads in one consumer {_n(m, 'threads_speedup')}",
          "batching side effects and concurrent I/O inside a consumer raise μ without more partitions",
          "key order and offset commits need care (commit only a contiguous processed prefix); CPU-bound Python "
          "is held to one core by the GIL"),
    Point("mitigations", "Bound async concurrency", "17", ("unbounded_in_flight", "async_vs_threads"),
          lambda m: f"an asyncio consumer with a task per message held {_n(m, 'unbounded_in_flight')} in flight"
                    f"{_note(m, 'unbounded_in_flight')}; bounded, one asyncio thread did "
                    f"{_n(m, 'async_vs_threads')} what 50 threads did on the same calls",
          "in an asyncio consumer, a semaphore taken before each task bounds the messages in flight, so the backlog "
          "waits in Kafka and not in the heap; commit only the contiguous processed prefix",
          "a task per message is an unbounded buffer (memory grows with the backlog, for no extra throughput); "
          "tasks keep no per-key order, and CPU-bound work stalls every task on the loop"),
    Point("mitigations", "Tune poll and fetch", "05", ("batch_speedup", "storm_evictions"),
          lambda m: f"bigger `consume()` batches drained {_n(m, 'batch_speedup')} faster; a handler slower than "
                    f"`max.poll.interval.ms` was evicted {_n(m, 'storm_evictions')} times{_note(m, 'storm_evictions')}",
          "bigger batches cost less per message; keep a batch's work well under `max.poll.interval.ms`",
          "bigger batches and `fetch.min.bytes`/`fetch.wait.max.ms` add latency; a batch too slow for the poll "
          "interval gets the member evicted and its work redone"),
    Point("mitigations", "Batch and compress on the producer", "06", ("linger_requests_cut", "zstd_ratio"),
          lambda m: f"`linger.ms` cut produce requests {_n(m, 'linger_requests_cut')}"
                    f"{_note(m, 'linger_requests_cut')}; "
                    f"zstd stored {_n(m, 'zstd_ratio')} fewer bytes{_note(m, 'zstd_ratio')}",
          "`linger.ms`, `batch.size` and compression make fewer, bigger requests: less load on broker and network",
          "records wait up to `linger.ms` in the client; compression costs CPU; the producer's own queue "
          "pushes back with `BufferError` when full"),
    Point("mitigations", "Rate-limit the source", "07", ("aimd_throughput", "aimd_lag"),
          lambda m: f"an AIMD controller on lag kept the consumer at {_n(m, 'aimd_throughput')} and the lag near "
                    f"{_n(m, 'aimd_lag')}{_note(m, 'aimd_lag')}",
          "throttle the producer: a token bucket (open loop) or a controller on lag (closed loop, AIMD)",
          "the source must hold messages back or shed them: the backpressure moves upstream, it does not vanish"),
    Point("mitigations", "Broker quotas", "08", ("quota_accuracy", "neighbour_p50_ms"),
          lambda m: f"a `producer_byte_rate` quota held a producer to {_n(m, 'quota_accuracy')}"
                    f"{_note(m, 'quota_accuracy')}"
                    f"; a quiet producer beside it kept a median latency of {_n(m, 'neighbour_p50_ms')}"
                    f"{_note(m, 'neighbour_p50_ms')}",
          "the broker itself throttles clients past `producer_byte_rate` / `consumer_byte_rate`",
          "coarse and per client id: it protects neighbours and the cluster, and the throttled client's latency "
          "and queue grow instead"),
    Point("mitigations", "Choose acks and min.insync.replicas", "15", ("acks_all_vs_1_p50", "lost_acknowledged"),
          lambda m: f"`acks=all` cost {_n(m, 'acks_all_vs_1_p50')} the median produce latency of `acks=1`; with "
                    f"idempotence, a lost broker cost {_n(m, 'lost_acknowledged')} of those acknowledged",
          "`acks`, the replication factor and `min.insync.replicas` trade produce latency and availability "
          "against durability",
          "`acks=1` answers sooner but loses acknowledged writes if the leader dies before its followers copy "
          "them; `min.insync.replicas` equal to the replication factor stops writes when any replica is lost"),
    Point("mitigations", "Retry topics and a dead-letter topic", "16",
          ("naive_stall_s", "retry_topics_stall_s", "order_violations"),
          lambda m: f"one poison message under a naive retry loop stalled its partition for {_n(m, 'naive_stall_s')} "
                    f"(Burrow: STALL, the other partitions OK); through retry topics and a dead-letter topic no partition "
                    f"stood still longer than {_n(m, 'retry_topics_stall_s')}, but {_n(m, 'order_violations')} were "
                    f"processed after a later message of their key{_note(m, 'order_violations')}",
          "a slow call or a poison message blocks its whole partition (head-of-line blocking): bound each call with a "
          "timeout and the calls in flight per consumer, and move failed messages to retry topics with growing delays "
          "and, at last, a dead-letter topic",
          "a retried message leaves its key's order unless the key's later messages are held back behind it; the "
          "dead-letter topic needs an owner, an alert and a way to replay it"),
    Point("mitigations", "Bounded buffers with pause/resume", "09",
          ("peak_mb_paused", "peak_mb_unbounded", "refetched_mb_per_pause"),
          lambda m: f"pause()/resume() kept a slow sink's buffer at {_n(m, 'peak_mb_paused')} against "
                    f"{_n(m, 'peak_mb_unbounded')} unbounded, with no eviction; but each pause threw away "
                    f"{_n(m, 'refetched_mb_per_pause')} of prefetched data that was fetched again after resume()",
          "bound the queue between poll loop and sink, and `pause()` the partitions when it is full",
          "protects the consumer's memory and group membership only: the lag still grows in Kafka, and librdkafka "
          "drops what it prefetched at every pause, so pause only on sustained backpressure"),
    Point("mitigations", "Autoscale on lag", "11", ("peak_lag_static_vs_keda", "recover_s"),
          lambda m: f"a KEDA-style autoscaler kept the peak lag {_n(m, 'peak_lag_static_vs_keda')} below a static "
                    f"group's and recovered in {_n(m, 'recover_s')}{_note(m, 'recover_s')}",
          "scale the group on lag (KEDA's Kafka scaler + the HPA)",
          "capped by partitions, reacts after the lag is there, and flaps without a stabilization window; each "
          "scaling step is a rebalance"),
    Point("mitigations", "Share groups", "12", ("share_vs_classic", "share_autoscaled_replicas"),
          lambda m: f"a share group processed {_n(m, 'share_vs_classic')} a classic group's rate"
                    f"{_note(m, 'share_vs_classic')}, and an autoscaler on its backlog took it to "
                    f"{_n(m, 'share_autoscaled_replicas')}{_note(m, 'share_autoscaled_replicas')}",
          "share groups (KIP-932) let more consumers than partitions work one topic",
          "no per-partition or per-key order; records are acknowledged one by one and redelivered after a lock "
          "timeout"),
)

SECTIONS = (("definition", "1 · What it is"), ("symptoms", "2 · How it shows up"),
            ("measure", "3 · How I measure it"), ("mitigations", "4 · How I manage it, and what each option costs"))


@dataclass
class Answer:
    """The assembled answer: markdown text, the numbers it quotes, and the lessons still to run."""

    markdown: str
    quoted: list[Measurement] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # lessons to run, in order
    extra: list[Measurement] = field(default_factory=list)  # stored numbers no point knows (new lessons)

    def _repr_markdown_(self) -> str:
        return self.markdown

    def __str__(self) -> str:
        return self.markdown


def _stored(results: Any) -> dict[str, dict[str, Measurement]]:
    """{lesson: {key: Measurement}} from the store (None) or from a recall() DataFrame / dict of dicts."""
    if results is None:
        results = recall()
    if isinstance(results, Mapping):
        return {str(lesson): dict(keys) for lesson, keys in results.items()}
    out: dict[str, dict[str, Measurement]] = {}
    for row in results.to_dict("records"):
        out.setdefault(row["lesson"], {})[row["key"]] = Measurement(**row)
    return out


def answer(results: Any = None, *, notebooks: Path | str | None = ".") -> Answer:
    """Assemble the answer from stored numbers (``results``: None reads the store; or a ``recall()`` DataFrame).

    ``notebooks``: the folder the lessons' notebooks are in, for links (the answer is shown from there).
    """
    stored = _stored(results)
    folder = Path(notebooks) if notebooks is not None else None
    quoted: list[Measurement] = []
    missing: list[str] = []
    known: set[tuple[str, str]] = set()
    lines = ["## Explain backpressure in Kafka and how you would manage it", ""]
    for section, heading in SECTIONS:
        lines += [f"### {heading}", ""]
        if section == "definition":
            lines.append("> **Backpressure** is what happens when a stage receives work faster than it can finish it. "
                         "In Kafka the log absorbs the difference: producers keep writing and nothing fails, so it "
                         "shows up as **consumer lag** that grows while arrival λ exceeds service μ.")
            lines.append("")
        for p in (p for p in POINTS if p.section == section):
            have = stored.get(p.lesson, {})
            known.update((p.lesson, k) for k in p.keys)
            link = lesson_link(p.lesson, folder)
            if all(k in have for k in p.keys):
                nums = {k: have[k] for k in p.keys}
                quoted += nums.values()
                claim = f"{p.general[0].upper()}{p.general[1:]}. **On my machine** ({link}): {p.measured(nums)}."
            else:
                if p.lesson not in missing:
                    missing.append(p.lesson)
                claim = f"{p.general[0].upper()}{p.general[1:]}. *Run {link} to put your own number here.*"
            trade = f" **Trade-off:** {p.tradeoff}." if p.tradeoff else ""
            lines.append(f"- **{p.title}.** {claim}{trade}")
        lines.append("")
    extra = [m for lesson, keys in sorted(stored.items()) for k, m in sorted(keys.items())
             if (lesson, k) not in known]
    if extra:
        lines += ["### More numbers you measured", ""]
        lines += [f"- {lesson_link(m.lesson, folder)}: `{m.key}` = **{m.text}**" + (f" ({m.note})" if m.note else "")
                  for m in extra]
        lines.append("")
    lines += ["### How I would put it in one breath", "",
              "> Backpressure in Kafka is lag: arrival above service rate, absorbed by the log. I watch time lag and "
              "its trend, alert against retention, and fix the rate mismatch at its cheapest point: make processing "
              "cheaper, scale consumers up to the partitions, then partitions or share groups, and throttle the "
              "source (or let quotas do it) when the consumers cannot catch up.", ""]
    if missing:
        todo = ", ".join(lesson_link(x, folder) for x in sorted(missing))
        lines.append(f"**Still to run** for a complete answer: {todo}.")
    else:
        lines.append("**Every number above is yours**: measured on this machine by the lessons you ran.")
    return Answer("\n".join(lines), quoted, sorted(missing), extra)


# ---------------------------------------------------------------------------------------------------- quiz
@dataclass(frozen=True)
class Question:
    """A multiple-choice question: ``options`` (text, feedback) pairs and the index of the right one."""

    text: str
    options: tuple[tuple[str, str], ...]
    right: int
    lesson: str = ""

    def __post_init__(self) -> None:
        if not 0 <= self.right < len(self.options) or len(self.options) < 2:
            raise ValueError(f"a question needs two or more options and a valid right index: {self.text!r}")

    def feedback(self, choice: int) -> tuple[bool, str]:
        """Whether ``choice`` is right, and what to tell the learner."""
        text, why = self.options[choice]
        return choice == self.right, why


def _plain_text(markdown: str) -> str:
    return re.sub(r"`([^`]*)`", r"<code>\1</code>", html.escape(markdown))


class Quiz:
    """Radio buttons and a Check button per question; feedback under each; a score line."""

    def __init__(self, questions: Sequence[Question]) -> None:
        import ipywidgets as widgets

        self.questions = list(questions)
        self.choices, self.feedbacks, self.correct = [], [], [None] * len(self.questions)
        rows = []
        for i, q in enumerate(self.questions):
            choice = widgets.RadioButtons(options=[(o, k) for k, (o, _) in enumerate(q.options)], value=None,
                                          layout=widgets.Layout(width="auto"))
            button = widgets.Button(description="Check", icon="check")
            out = widgets.HTML("")
            button.on_click(lambda _, i=i: self.check(i))
            self.choices.append(choice)
            self.feedbacks.append(out)
            label = widgets.HTML(f"<b>Q{i + 1}.</b> {_plain_text(q.text)}")
            rows.append(widgets.VBox([label, choice, button, out], layout=widgets.Layout(margin="0 0 12px 0")))
        self.score = widgets.HTML(self._score_text())
        self.widget = widgets.VBox(rows + [self.score])

    def choose(self, i: int, option: int) -> tuple[bool, str]:
        """Pick ``option`` for question ``i`` and check it (what the buttons do; also for tests)."""
        self.choices[i].value = option
        return self.check(i)

    def check(self, i: int) -> tuple[bool, str]:
        q, value = self.questions[i], self.choices[i].value
        if value is None:
            self.feedbacks[i].value = "<i>Pick an answer first.</i>"
            return False, "no answer"
        ok, why = q.feedback(value)
        self.correct[i] = ok
        mark = "✅ Right." if ok else "❌ Not quite."
        see = f" (lesson {q.lesson})" if q.lesson else ""
        self.feedbacks[i].value = f"{mark} {_plain_text(why)}{see if not ok else ''}"
        self.score.value = self._score_text()
        return ok, why

    def _score_text(self) -> str:
        done = [c for c in self.correct if c is not None]
        return f"<b>Score:</b> {sum(done)} of {len(self.questions)} right ({len(done)} answered)"

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


QUESTIONS: tuple[Question, ...] = (
    Question("A producer sends 3,000 msg/s to 6 partitions; 2 consumers each spend 1 ms per message. "
             "What does the lag do over the next minute?", (
                 ("It stays near zero: Kafka balances the load", "Kafka does not balance load beyond the "
                  "partitions: 2 consumers at 1 ms process at most 2,000 msg/s."),
                 ("It grows by about 60,000 messages", "Yes: λ − μ = 3,000 − 2,000 = 1,000 msg/s, for 60 s."),
                 ("It grows by about 180,000 messages", "That would be nobody consuming: the consumers still "
                  "process 2,000 msg/s, so lag grows at λ − μ, not λ."),
                 ("The producer gets errors and slows down", "The producer writes to the broker's log and is "
                  "acknowledged: it feels nothing.")), 1, "01"),
    Question("Which signal would you page on?", (
        ("Consumer lag above 10,000 messages", "The same count is 1 s behind on a busy topic and 10 s on a quiet "
         "one: it says little about the delay or the risk."),
        ("Time lag as a fraction of retention, and a lag trend that keeps growing",
         "Yes: time lag says how late and how close to data loss; the trend separates a stuck or overloaded group "
         "from one draining a backlog."),
        ("The consumers' CPU at 100 %", "A consumer waiting on a database is slow with idle CPU; a busy one may "
         "keep up fine."),
        ("Errors on the producer", "An overloaded consumer group causes no producer errors at all.")), 1, "02 and 10"),
    Question("8 consumers in one group read a 4-partition topic; each message takes 1 ms. The highest rate "
             "they keep up with?", (
                 ("8,000 msg/s", "Only 4 of them get a partition: the other 4 sit idle."),
                 ("Just under 4,000 msg/s", "Yes: one consumer per partition at 1,000 msg/s each; the rest idle."),
                 ("2,000 msg/s", "Each of the 4 busy consumers still does 1,000 msg/s."),
                 ("No limit: the broker spreads messages over all members", "A partition is read by one member of "
                  "a group at a time (a share group is different).")), 1, "03"),
    Question("Consumers = partitions, every consumer saturated, and per-key order matters. The next move?", (
        ("Add more consumers", "They would sit idle: the partitions cap a group."),
        ("Process concurrently inside each consumer, one key at a time per thread, committing a contiguous prefix",
         "Yes: it raises μ without repartitioning and keeps per-key order (for I/O-bound work; CPU-bound Python "
         "needs processes)."),
        ("Switch to a share group", "A share group goes past the partitions, but processes a key's records "
         "concurrently: order is gone."),
        ("Raise max.poll.interval.ms", "That stops evictions of a slow handler; it does not make processing "
         "faster.")), 1, "04"),
    Question("A handler takes 20 ms per message and consume() returns batches of 500; max.poll.interval.ms is 5 s. "
             "What happens?", (
                 ("Nothing: the consumer just runs slowly", "A batch takes 500 × 20 ms = 10 s between polls, more "
                  "than the 5 s allowed."),
                 ("The member is evicted again and again, and redoes uncommitted work", "Yes: a rebalance storm "
                  "with duplicates; smaller batches or a longer interval fix it."),
                 ("Messages are lost", "Offsets are committed only after processing: work is redone, not lost."),
                 ("The broker throttles the consumer", "Throttling comes from quotas, not from a slow handler.")),
        1, "05"),
    Question("Lag grows on one partition only. Its consumer is alive and commits every second, always the same "
             "offset; the other partitions are fine. Most likely?", (
                 ("The producer writes faster to that partition", "Then the offset would still move, only too "
                  "slowly: Burrow's WARN, not an offset that never changes."),
                 ("A message it retries in place forever (a poison message)", "Yes: Burrow's STALL. Move failing "
                  "messages to a retry topic and, after the retries, a dead-letter topic."),
                 ("A rebalance in progress", "A rebalance pauses every partition of the group, and commits stop."),
                 ("Retention deleted its messages", "The consumer would jump ahead (an offset reset), not stand "
                  "still.")), 1, "16"),
    Question("A lag-driven rate limiter (AIMD) slows the producer. Where do the messages it holds back go?", (
        ("Nowhere: they are dropped by Kafka", "Kafka never sees them: they are held before produce()."),
        ("They wait at the source or are shed there: the backpressure moves upstream",
         "Yes: a bounded source buffer sheds, an unbounded one grows."),
        ("Into the broker's log, as before", "The limiter stops them before the broker."),
        ("Into the consumers' memory", "Consumers only see what was produced.")), 1, "07"),
    Question("An asyncio consumer creates a task per fetched message; the service it calls takes 50 calls at once, "
             "10 ms each, and a backlog of 40,000 messages waits. What happens?", (
                 ("It drains 40,000 / 10 ms: tasks are cheap and all run at once", "The service takes 50 calls at "
                  "once: 5,000 msg/s at best, however many tasks wait for it."),
                 ("Tens of thousands of tasks wait in memory, for no more throughput than a semaphore of 50",
                  "Yes: fetching never waits, so the backlog moves from Kafka into the heap, about a kilobyte per "
                  "waiting task besides its message. A semaphore taken before create_task keeps 50 in flight."),
                 ("The broker throttles the consumer", "Nothing tells the broker: it serves fetches as usual."),
                 ("Offsets are committed past unfinished messages", "Only if the consumer commits the highest "
                  "finished offset; the contiguous processed prefix is safe.")), 1, "17"),
)


def quiz(questions: Sequence[Question] = QUESTIONS) -> Quiz:
    """Quiz widgets: pick an answer, press Check, read why it is right or not."""
    return Quiz(questions)


__all__ = ["Answer", "LESSONS", "POINTS", "Point", "QUESTIONS", "Question", "Quiz", "answer", "lesson_link", "quiz"]
