#!/usr/bin/python3
"""Decodes TensorBoard event files independently of tunelua, for
spec/tensorboard_spec.lua: TFRecord framing with masked CRC32C (a bitwise
CRC32C checked first against published test vectors, RFC 3720 B.4), and
Event / Summary messages built with python3-protobuf from the field numbers
of TensorBoard's event.proto and summary.proto. Prints JSON:
{"file_version": ..., "events": [{"step": n, "wall_time": t, "values": {tag: v}}]}"""
import json
import struct
import sys

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


VECTORS = [  # RFC 3720, B.4 (iSCSI CRC32C examples), and the check value
    (bytes(32), 0x8A9136AA),
    (bytes([0xFF] * 32), 0x62A8AB43),
    (bytes(range(32)), 0x46DD794E),
    (bytes(range(31, -1, -1)), 0x113FDB5C),
    (b"123456789", 0xE3069283),
]
for data, want in VECTORS:
    assert crc32c(data) == want, "crc32c test vector failed"


def masked(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def messages():
    f = descriptor_pb2.FileDescriptorProto(name="tb_event.proto", package="tbcheck", syntax="proto3")
    T = descriptor_pb2.FieldDescriptorProto
    def msg(name, fields):
        m = f.message_type.add(name=name)
        for fname, num, ftype, label, tname in fields:
            fd = m.field.add(name=fname, number=num, type=ftype, label=label)
            if tname:
                fd.type_name = tname
    opt, rep = T.LABEL_OPTIONAL, T.LABEL_REPEATED
    msg("Value", [("tag", 1, T.TYPE_STRING, opt, None), ("simple_value", 2, T.TYPE_FLOAT, opt, None)])
    msg("Summary", [("value", 1, T.TYPE_MESSAGE, rep, ".tbcheck.Value")])
    msg("Event", [("wall_time", 1, T.TYPE_DOUBLE, opt, None), ("step", 2, T.TYPE_INT64, opt, None),
                  ("file_version", 3, T.TYPE_STRING, opt, None),
                  ("summary", 5, T.TYPE_MESSAGE, opt, ".tbcheck.Summary")])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    desc = pool.FindMessageTypeByName("tbcheck.Event")
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(desc)
    return message_factory.MessageFactory(pool).GetPrototype(desc)


def main(path):
    Event = messages()
    data = open(path, "rb").read()
    pos, out = 0, {"file_version": None, "events": []}
    while pos < len(data):
        header = data[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        (len_crc,) = struct.unpack("<I", data[pos + 8:pos + 12])
        assert masked(header) == len_crc, "length CRC mismatch at byte %d" % pos
        body = data[pos + 12:pos + 12 + length]
        (body_crc,) = struct.unpack("<I", data[pos + 12 + length:pos + 16 + length])
        assert len(body) == length and masked(body) == body_crc, "data CRC mismatch at byte %d" % pos
        pos += 16 + length
        ev = Event()
        ev.ParseFromString(body)
        if ev.file_version:
            out["file_version"] = ev.file_version
            continue
        out["events"].append({"step": ev.step, "wall_time": ev.wall_time,
                              "values": {v.tag: v.simple_value for v in ev.summary.value}})
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
