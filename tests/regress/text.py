#!/usr/bin/python3
# text.py -- helpers of text.sh.
#   text.py hello SOCKET     sends Hello{client: "x\u202ey"}; prints the reply's error code
#   text.py fake SOCKET      a fake timerd that answers Hello and Get with a timer whose key
#                            and topic hold bidi and escape characters (for timerctl's printing);
#                            a Get of "errkey" gets an Error whose message holds them
import os, socket, struct, sys

def varint(n):
    b = b''
    while True:
        c = n & 0x7f
        n >>= 7
        if n:
            b += bytes([c | 0x80])
        else:
            return b + bytes([c])

def field(num, wt, payload):
    key = varint(num << 3 | wt)
    if wt == 0:
        return key + varint(payload)
    return key + varint(len(payload)) + payload

def frame(b):
    return struct.pack('>I', len(b)) + b

def read_frame(s):
    h = b''
    while len(h) < 4:
        d = s.recv(4 - len(h))
        if not d:
            return None
        h += d
    n = struct.unpack('>I', h)[0]
    b = b''
    while len(b) < n:
        d = s.recv(n - len(b))
        if not d:
            return None
        b += d
    return b

def parse(b):
    """(id, body field number) of a Request or Response."""
    i, rid, body = 0, 0, None
    while i < len(b):
        k, i = read_varint(b, i)
        num, wt = k >> 3, k & 7
        if wt == 0:
            v, i = read_varint(b, i)
            if num == 1:
                rid = v
        elif wt == 2:
            l, i = read_varint(b, i)
            if num >= 9:
                body = (num, b[i:i + l])
            i += l
        else:
            break
    return rid, body

def read_varint(b, i):
    n = shift = 0
    while True:
        c = b[i]
        i += 1
        n |= (c & 0x7f) << shift
        shift += 7
        if not c & 0x80:
            return n, i

if sys.argv[1] == 'hello':
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[2])
    hello = field(1, 0, 1) + field(2, 2, 'x\u202ey'.encode())
    s.sendall(frame(field(1, 0, 7) + field(10, 2, hello)))
    rid, body = parse(read_frame(s))
    if body and body[0] == 9:
        code = 0
        j = 0
        while j < len(body[1]):
            k, j = read_varint(body[1], j)
            if k == 0x08:
                code, j = read_varint(body[1], j)
            else:
                l, j = read_varint(body[1], j)
                j += l
        print(code)
    else:
        print('no error')
elif sys.argv[1] == 'fake':
    path = sys.argv[2]
    l = socket.socket(socket.AF_UNIX)
    l.bind(path)
    l.listen(4)
    print('ready', flush=True)
    for _ in range(2):	# the two timerctl runs of text.sh
        c, _ = l.accept()
        while True:
            f = read_frame(c)
            if f is None:
                break
            rid, body = parse(f)
            if body and body[0] == 10:
                rep = field(10, 2, field(1, 0, 1) + field(2, 2, b'fake'))
            elif b'errkey' in f:	# an Error whose message holds a newline, ESC and U+202E
                rep = field(9, 2, field(1, 0, 1) + field(2, 2, 'bad\nFAKE \x1b[31m \u202eexe'.encode()))
            else:
                timer = field(1, 0, 1) + field(2, 2, 'evil\u202etxt.exe'.encode()) + field(3, 2, b'top\x1b[31mic')
                rep = field(13, 2, field(1, 2, timer))
            c.sendall(frame(field(1, 0, rid) + rep))
