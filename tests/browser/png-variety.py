#!/usr/bin/python3
"""png-variety.py -- checks that regions of a PNG screenshot are not blank.

usage: png-variety.py SHOT.png 'x,y,w,h' ...  (boxes in pixels)
Decodes the PNG with the standard library only (zlib; 8-bit RGB/RGBA,
not interlaced, as Chromium writes them) and, for each box, counts the
distinct colours and the pixels that differ from the box's most common
colour (the background). Exits 1 naming the first blank box.
"""
import struct
import sys
import zlib
from collections import Counter


def decode(path):
    """Returns (width, height, rows of bytes, bytes per pixel)."""
    data = open(path, 'rb').read()
    if data[:8] != b'\x89PNG\r\n\x1a\n':
        sys.exit('%s: not a PNG' % path)
    pos, idat, w = 8, [], None
    while pos < len(data):
        n, kind = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b'IHDR':
            w, h, depth, ctype, _, _, interlace = struct.unpack('>IIBBBBB', body)
            if depth != 8 or ctype not in (2, 6) or interlace:
                sys.exit('%s: unsupported PNG (depth %d, colour type %d)' % (path, depth, ctype))
            bpp = 3 if ctype == 2 else 4
        elif kind == b'IDAT':
            idat.append(body)
        pos += 12 + n
    raw, stride, rows, prev = zlib.decompress(b''.join(idat)), w * bpp, [], bytearray(w * bpp)
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    return w, h, rows, bpp


def main():
    w, h, rows, bpp = decode(sys.argv[1])
    for spec in sys.argv[2:]:
        x, y, bw, bh = (int(float(v)) for v in spec.split(','))
        px = Counter()
        for yy in range(max(y, 0), min(y + bh, h)):
            r = rows[yy]
            for xx in range(max(x, 0), min(x + bw, w)):
                px[bytes(r[xx * bpp:xx * bpp + 3])] += 1
        total = sum(px.values())
        ink = total - (px.most_common(1)[0][1] if px else 0)
        print('box %s: %d pixels, %d colours, %d not background' % (spec, total, len(px), ink))
        if total == 0 or len(px) < 3 or ink < 200:
            sys.exit('blank plot in the screenshot at %s' % spec)


main()
