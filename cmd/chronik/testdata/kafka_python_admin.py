"""Topic administration with kafka-python's KafkaAdminClient.

usage: kafka_python_admin.py BOOTSTRAP TOPIC

Creates TOPIC (3 partitions, retention.ms=3600000), lists topics, describes
its configs, then deletes it and lists again. Prints one JSON object:
{"created", "listed", "configs", "deleted", "listed_after"}; exits non-zero
on any error.
"""
import json
import sys

from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic


def main():
    bootstrap, topic = sys.argv[1:3]
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=20000)
    out = {}
    resp = admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1,
                                         topic_configs={"retention.ms": "3600000"})])
    out["created"] = [[name, code] for name, code, *_ in resp.topic_errors]
    out["listed"] = topic in admin.list_topics()
    [resp] = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    configs = {}
    for code, _msg, _rtype, _rname, entries in resp.resources:
        if code != 0:
            sys.exit("describe_configs: error code %d" % code)
        for entry in entries:
            configs[entry[0]] = entry[1]
    out["configs"] = configs
    resp = admin.delete_topics([topic])
    out["deleted"] = [[name, code] for name, code in resp.topic_error_codes]
    out["listed_after"] = topic in admin.list_topics()
    admin.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
