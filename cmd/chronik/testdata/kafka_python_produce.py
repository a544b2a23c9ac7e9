"""Produce records with kafka-python (acks=all) and print where each went.

usage: kafka_python_produce.py BOOTSTRAP TOPIC CODEC COUNT PARTITIONS

CODEC is none, gzip, snappy, lz4 or zstd. Record i has key "k<i>" and value
"<codec>-<i>-" followed by "chronik" 30 times (compressible: kafka-python
sends a batch uncompressed when compressing would not shrink it) and goes to
partition i % PARTITIONS. Prints one JSON object
per acknowledged record: {"partition", "offset", "key", "value"}; exits
non-zero on any error.
"""
import json
import sys

from kafka import KafkaProducer


def main():
    bootstrap, topic, codec, count, partitions = sys.argv[1:6]
    count, partitions = int(count), int(partitions)
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        compression_type=None if codec == "none" else codec,
        linger_ms=20,
        retries=5,
        request_timeout_ms=20000,
    )
    futures = []
    for i in range(count):
        key, value = "k%d" % i, "%s-%d-%s" % (codec, i, "chronik" * 30)
        fut = producer.send(topic, key=key.encode(), value=value.encode(), partition=i % partitions)
        futures.append((key, value, fut))
    producer.flush(timeout=30)
    for key, value, fut in futures:
        md = fut.get(timeout=30)
        print(json.dumps({"partition": md.partition, "offset": md.offset, "key": key, "value": value}))
    producer.close(timeout=10)


if __name__ == "__main__":
    main()
