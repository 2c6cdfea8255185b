# Reference encoder for the qr package tests: Nayuki's qrcodegen (Debian
# python3-qrcodegen). Reads one case per line:
#   MINVERSION MAXVERSION LEVEL MASK SEG...
# where LEVEL is L/M/Q/H, MASK is -1 (auto) or 0-7, and each SEG is
# MODE:HEX with MODE n (numeric), a (alphanumeric), b (bytes) or e (ECI, HEX
# being the assignment number in decimal). Prints, per case, the version, the mask used
# and the modules as hex, one row after the other, each row's bits packed
# most significant first into ceil(size/4) hex digits. The smallest version
# in the range that holds the segments is used, without boosting the level.
import sys
from qrcodegen import QrCode, QrSegment

LEVELS = {"L": QrCode.Ecc.LOW, "M": QrCode.Ecc.MEDIUM, "Q": QrCode.Ecc.QUARTILE, "H": QrCode.Ecc.HIGH}


def seg(tok):
    mode, data = tok.split(":", 1)
    if mode == "e":
        return QrSegment.make_eci(int(data))
    raw = bytes.fromhex(data)
    if mode == "n":
        return QrSegment.make_numeric(raw.decode("ascii"))
    if mode == "a":
        return QrSegment.make_alphanumeric(raw.decode("ascii"))
    return QrSegment.make_bytes(raw)


for line in sys.stdin:
    f = line.split()
    minv, maxv, ecl, mask = int(f[0]), int(f[1]), LEVELS[f[2]], int(f[3])
    qr = QrCode.encode_segments([seg(t) for t in f[4:]], ecl, minv, maxv, mask, False)
    size = qr.get_size()
    digits = (size + 3) // 4
    rows = []
    for y in range(size):
        v = 0
        for x in range(size):
            v = v << 1 | qr.get_module(x, y)
        v <<= digits * 4 - size
        rows.append("%0*x" % (digits, v))
    print(qr.get_version(), qr.get_mask(), "".join(rows), flush=True)
