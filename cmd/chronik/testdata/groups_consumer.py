"""Consume a topic in a consumer group with kafka-python 2.0.2, commit, leave.

usage: groups_consumer.py BOOTSTRAP TOPIC GROUP COUNT

Subscribes to TOPIC in GROUP (kafka-python's group coordinator: FindCoordinator
v0, JoinGroup v2, SyncGroup v1, Heartbeat v1, OffsetFetch v1, OffsetCommit v2,
LeaveGroup v1 against a broker it detects as 2.x), reads until COUNT records
came, then one more short poll to catch records past COUNT, commits
synchronously, and closes (leaving the group). Prints one JSON object per
record: {"partition", "offset", "key", "value"}; exits non-zero if COUNT
records do not come within 45 seconds.
"""
import json
import sys
import time

from kafka import KafkaConsumer


def main():
    bootstrap, topic, group, count = sys.argv[1:5]
    count = int(count)
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=10000,
        heartbeat_interval_ms=500,
        request_timeout_ms=30000,
    )
    got = []
    deadline = time.monotonic() + 45
    while len(got) < count:
        if time.monotonic() > deadline:
            sys.exit("consumed %d of %d records before the deadline" % (len(got), count))
        for tp, records in consumer.poll(timeout_ms=500).items():
            got.extend((tp.partition, r) for r in records)
    for tp, records in consumer.poll(timeout_ms=500).items():
        got.extend((tp.partition, r) for r in records)
    consumer.commit()
    consumer.close()
    for partition, r in got:
        print(json.dumps({"partition": partition, "offset": r.offset,
                          "key": r.key.decode() if r.key is not None else None,
                          "value": r.value.decode()}))


if __name__ == "__main__":
    main()
