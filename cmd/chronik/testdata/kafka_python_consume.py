"""Read a topic with kafka-python, without a group: assign every partition,
seek to the beginning and read until COUNT records came.

usage: kafka_python_consume.py BOOTSTRAP TOPIC PARTITIONS COUNT

Prints one JSON object per record: {"partition", "offset", "key", "value"};
exits non-zero if COUNT records do not come within 30 seconds.
"""
import json
import sys
import time

from kafka import KafkaConsumer, TopicPartition


def main():
    bootstrap, topic, partitions, count = sys.argv[1:5]
    partitions, count = int(partitions), int(count)
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        request_timeout_ms=20000,
    )
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    got = 0
    deadline = time.monotonic() + 30
    while got < count:
        if time.monotonic() > deadline:
            sys.exit("consumed %d of %d records before the deadline" % (got, count))
        for tp, records in consumer.poll(timeout_ms=500).items():
            for r in records:
                print(json.dumps({"partition": tp.partition, "offset": r.offset,
                                  "key": r.key.decode() if r.key is not None else None,
                                  "value": r.value.decode()}))
                got += 1
    consumer.close()


if __name__ == "__main__":
    main()
