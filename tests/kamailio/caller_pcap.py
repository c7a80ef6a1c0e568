#!/usr/bin/env python3
"""A caller's RTP as a pcap that SIPp's play_pcap_audio plays: G.711 mu-law (PT 0) at 20 ms,
with DTMF keys typed in-band (tone pairs in the audio) and as RFC 4733 telephone-events (PT 101)
at given times.

  caller_pcap.py -o caller.pcap --duration-ms 12000 [--wav speech.wav]
                 [--inband MS:KEYS]... [--rfc4733 MS:KEYS]...

--wav mixes a WAV (8 kHz mono, PCM16 or mu-law: toneguard-synth's output) under the whole
timeline, looped; without it the audio is quiet line noise. Each key lasts 100 ms and keys are
150 ms apart (human timing); --inband and --rfc4733 groups start at MS from the first packet.
While an RFC 4733 event plays the audio is withheld (as phones do), its end packet is sent
three times. Ethernet link type, 127.0.0.1 -> 127.0.0.1 (SIPp rewrites addresses and ports).
Prints one JSON line per key (digit, mode, start_ms) for the test to compare with.
Python's standard library only.
"""
import argparse
import json
import math
import random
import struct
import sys
import wave

RATE = 8000
FRAME = 160  # 20 ms
KEY_MS = 100
GAP_MS = 150
DTMF = {
    "1": (697, 1209), "2": (697, 1336), "3": (697, 1477), "A": (697, 1633),
    "4": (770, 1209), "5": (770, 1336), "6": (770, 1477), "B": (770, 1633),
    "7": (852, 1209), "8": (852, 1336), "9": (852, 1477), "C": (852, 1633),
    "*": (941, 1209), "0": (941, 1336), "#": (941, 1477), "D": (941, 1633),
}
EVENT_CODE = {**{str(d): d for d in range(10)}, "*": 10, "#": 11, "A": 12, "B": 13, "C": 14,
              "D": 15}
# A sine at 0 dBm0 in G.711 (3.14 dBm0 is full scale, 32767 as PCM16).
ZERO_DBM0 = 32767 / 10 ** (3.14 / 20)


def linear_to_ulaw(sample):
    """ITU-T G.711 mu-law of one PCM16 sample."""
    bias, clip = 0x84, 32635
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), clip) + bias
    exponent = 7
    mask = 0x4000
    while exponent > 0 and not magnitude & mask:
        exponent -= 1
        mask >>= 1
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def ulaw_to_linear(code):
    code = ~code & 0xFF
    magnitude = ((((code & 0x0F) << 3) + 0x84) << ((code & 0x70) >> 4)) - 0x84
    return -magnitude if code & 0x80 else magnitude


def read_wav(path):
    """PCM16 samples of an 8 kHz mono WAV (PCM16 or mu-law)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        sys.exit(f"{path}: not a WAV file")
    pos, fmt, samples = 12, None, None
    while pos + 8 <= len(data):
        chunk, size = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = data[pos + 8:pos + 8 + size]
        if chunk == b"fmt ":
            fmt = struct.unpack_from("<HHIIHH", body)
        elif chunk == b"data":
            samples = body
        pos += 8 + size + (size & 1)
    if fmt is None or samples is None:
        sys.exit(f"{path}: no fmt or data chunk")
    tag, channels, rate, _, _, bits = fmt
    if channels != 1 or rate != RATE:
        sys.exit(f"{path}: need 8 kHz mono, got {rate} Hz x {channels}")
    if tag == 1 and bits == 16:
        return list(struct.unpack(f"<{len(samples) // 2}h", samples[:len(samples) // 2 * 2]))
    if tag == 7:
        return [ulaw_to_linear(c) for c in samples]
    sys.exit(f"{path}: need PCM16 or mu-law (format {tag}, {bits} bits)")


def parse_groups(specs, mode):
    keys = []
    for spec in specs:
        at, _, digits = spec.partition(":")
        if not at.isdigit() or not digits or any(d not in DTMF for d in digits):
            sys.exit(f"bad --{mode} {spec!r}: want MS:KEYS with keys from 0-9*#A-D")
        for i, d in enumerate(digits):
            keys.append({"digit": d, "mode": mode, "start_ms": int(at) + i * (KEY_MS + GAP_MS)})
    return keys


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--duration-ms", type=int, required=True)
    parser.add_argument("--wav")
    parser.add_argument("--inband", action="append", default=[])
    parser.add_argument("--rfc4733", action="append", default=[])
    parser.add_argument("--level", type=float, default=-8.0, help="dBm0 per tone of a key")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    total = args.duration_ms * RATE // 1000 // FRAME * FRAME
    rng = random.Random(args.seed)
    if args.wav:
        background = read_wav(args.wav)
        audio = [background[i % len(background)] for i in range(total)] if background else [0] * total
    else:
        audio = [int(rng.gauss(0, 30)) for _ in range(total)]

    inband = parse_groups(args.inband, "inband")
    events = parse_groups(args.rfc4733, "rfc4733")
    amplitude = ZERO_DBM0 * 10 ** (args.level / 20)
    for key in inband:
        low, high = DTMF[key["digit"]]
        first = key["start_ms"] * RATE // 1000
        for n in range(KEY_MS * RATE // 1000):
            if first + n >= total:
                sys.exit(f"key {key['digit']} at {key['start_ms']} ms runs past --duration-ms")
            t = n / RATE
            audio[first + n] = int(amplitude * (math.sin(2 * math.pi * low * t) +
                                                math.sin(2 * math.pi * high * t)))
    codes = bytes(linear_to_ulaw(max(-32768, min(32767, s))) for s in audio)

    # Which 20 ms frames carry an event instead of audio: frame -> (key, index within the key).
    event_frames = {}
    for key in events:
        first = key["start_ms"] * RATE // 1000 // FRAME
        count = KEY_MS * RATE // 1000 // FRAME
        for i in range(count):
            event_frames[first + i] = (key, i, count, first * FRAME)
        if first + count > total // FRAME:
            sys.exit(f"key {key['digit']} at {key['start_ms']} ms runs past --duration-ms")

    ssrc, seq, start = 0x1D7A5EED, 1000, 1_700_000_000
    packets = []  # (ms from the start, rtp bytes)

    def rtp(pt, marker, ts, payload):
        nonlocal seq
        header = struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF,
                             ts & 0xFFFFFFFF, ssrc)
        seq += 1
        return header + payload

    for frame in range(total // FRAME):
        when = frame * FRAME * 1000 // RATE
        if frame in event_frames:
            key, i, count, event_ts = event_frames[frame]
            end = i == count - 1
            payload = struct.pack("!BBH", EVENT_CODE[key["digit"]], (0x80 if end else 0) | 10,
                                  (i + 1) * FRAME)
            for _ in range(3 if end else 1):
                packets.append((when, rtp(101, i == 0, event_ts, payload)))
        else:
            packets.append((when, rtp(0, frame == 0, frame * FRAME,
                                      codes[frame * FRAME:(frame + 1) * FRAME])))

    with open(args.output, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))  # Ethernet
        for when, payload in packets:
            udp = struct.pack("!HHHH", 6000, 7000, 8 + len(payload), 0) + payload
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0,
                             bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
            checksum = sum(struct.unpack("!10H", ip))
            checksum = (checksum & 0xFFFF) + (checksum >> 16)
            checksum = ~((checksum & 0xFFFF) + (checksum >> 16)) & 0xFFFF
            ip = ip[:10] + struct.pack("!H", checksum) + ip[12:]
            frame = b"\0" * 12 + b"\x08\x00" + ip + udp
            out.write(struct.pack("<IIII", start + when // 1000, when % 1000 * 1000, len(frame),
                                  len(frame)))
            out.write(frame)
    for key in sorted(inband + events, key=lambda k: k["start_ms"]):
        print(json.dumps(key))


if __name__ == "__main__":
    main()
