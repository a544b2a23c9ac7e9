"""Inspect a consumer group with kafka-python 2.0.2's KafkaAdminClient.

usage: groups_admin.py BOOTSTRAP GROUP

Prints one JSON object: {"listed": [[group, protocol_type], ...],
"state": ..., "protocol_type": ..., "members": n,
"offsets": {"topic/partition": offset, ...}}.
"""
import json
import sys

from kafka.admin import KafkaAdminClient


def main():
    bootstrap, group = sys.argv[1:3]
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)
    listed = admin.list_consumer_groups()
    described = admin.describe_consumer_groups([group])[0]
    offsets = admin.list_consumer_group_offsets(group)
    admin.close()
    print(json.dumps({
        "listed": sorted([list(g) for g in listed]),
        "state": described.state,
        "protocol_type": described.protocol_type,
        "members": len(described.members),
        "offsets": {"%s/%d" % (tp.topic, tp.partition): m.offset for tp, m in offsets.items()},
    }))


if __name__ == "__main__":
    main()
