# proto/ -- the wire contract (timerd.proto) and its generated C code.
