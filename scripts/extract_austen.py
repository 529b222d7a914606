#!/usr/bin/env python3
"""Jane Austen's novels out of Debian's r-cran-janeaustenr, without R.

The package keeps its data in an R lazy-load database: data/Rdata.rdx (a gzip-compressed R
serialization of an index: variable name -> (offset, length) in Rdata.rdb) and data/Rdata.rdb
(each entry: a 4-byte big-endian uncompressed size, then a zlib stream of an R serialization).
This reads R's XDR serialization format (versions 2 and 3) far enough for character vectors, lists
and pairlists, and writes each novel (a character vector, one element per printed line) as UTF-8
text, one line per element.

    extract_austen.py DATA_DIR OUT_DIR     (DATA_DIR: .../site-library/janeaustenr/data)
"""
import gzip
import os
import struct
import sys
import zlib

NOVELS = ["sensesensibility", "prideprejudice", "mansfieldpark", "emma", "northangerabbey", "persuasion"]


class RReader:
    """A reader of R's XDR serialization ("X\\n" format)."""

    def __init__(self, data):
        self.b, self.p, self.refs = data, 0, []
        if self.b[:2] != b"X\n":
            raise ValueError("not an XDR R serialization")
        self.p = 2
        version = self.int()
        self.int()  # writer's R version
        self.int()  # minimal reader version
        if version == 3:
            n = self.int()  # native encoding name
            self.p += n
        elif version != 2:
            raise ValueError(f"serialization version {version}")

    def int(self):
        v = struct.unpack_from(">i", self.b, self.p)[0]
        self.p += 4
        return v

    def length(self):
        n = self.int()
        if n == -1:
            hi, lo = self.int(), self.int()
            n = (hi << 32) + lo
        return n

    def item(self):
        flags = self.int()
        t, has_attr, has_tag = flags & 0xFF, flags & (1 << 9), flags & (1 << 10)
        if t in (254, 253, 252, 251, 250, 249, 248, 247, 246, 242):  # NILVALUE, GLOBALENV, ... special values
            return None
        if t == 255:  # REFSXP
            idx = flags >> 8
            return self.refs[(idx if idx else self.int()) - 1]
        if t == 1:  # SYMSXP
            sym = ("sym", self.item())
            self.refs.append(sym)
            return sym
        if t in (2, 6, 17, 3, 5):  # LISTSXP, LANGSXP, DOTSXP, CLOSXP, PROMSXP: attr, tag, car, cdr
            attr = self.item() if has_attr else None
            tag = self.item() if has_tag else None
            car = self.item()
            cdr = self.item()
            return {"pair": True, "attr": attr, "tag": tag, "car": car, "cdr": cdr}
        if t == 9:  # CHARSXP
            n = self.int()
            if n == -1:
                return None  # NA_character_
            raw = self.b[self.p:self.p + n]
            self.p += n
            levels = flags >> 12
            return raw.decode("latin-1" if levels & 4 else "utf-8")
        if t in (10, 13):  # LGLSXP, INTSXP
            n = self.length()
            out = list(struct.unpack_from(f">{n}i", self.b, self.p))
            self.p += 4 * n
        elif t == 14:  # REALSXP
            n = self.length()
            out = list(struct.unpack_from(f">{n}d", self.b, self.p))
            self.p += 8 * n
        elif t == 16:  # STRSXP
            out = [self.item() for _ in range(self.length())]
        elif t in (19, 20):  # VECSXP, EXPRSXP
            out = [self.item() for _ in range(self.length())]
        elif t == 238:  # ALTREP: class info, state, attributes
            self.item()
            self.item()
            self.item()
            return None
        else:
            raise ValueError(f"R type {t} at byte {self.p - 4} is not supported")
        attr = self.item() if has_attr else None
        return {"vector": out, "attr": attr} if attr is not None else out


def pairlist_dict(pl):
    out = {}
    while isinstance(pl, dict) and pl.get("pair"):
        out[pl["tag"][1] if pl["tag"] else None] = pl["car"]
        pl = pl["cdr"]
    return out


def names_of(v):
    return pairlist_dict(v["attr"]).get("names") if isinstance(v, dict) else None


def main():
    data_dir, out_dir = sys.argv[1:3]
    with open(os.path.join(data_dir, "Rdata.rdx"), "rb") as f:
        index = RReader(gzip.decompress(f.read())).item()
    parts = dict(zip(names_of(index), index["vector"]))
    variables = parts["variables"]
    where = dict(zip(names_of(variables), variables["vector"]))
    with open(os.path.join(data_dir, "Rdata.rdb"), "rb") as f:
        rdb = f.read()
    os.makedirs(out_dir, exist_ok=True)
    for name in NOVELS:
        if name not in where:
            sys.exit(f"extract_austen.py: no variable '{name}' in {data_dir}/Rdata.rdx (has {sorted(where)})")
        offset, size = where[name]
        chunk = rdb[offset:offset + size]
        raw = zlib.decompress(chunk[4:])
        if len(raw) != struct.unpack(">I", chunk[:4])[0]:
            sys.exit(f"extract_austen.py: entry '{name}' decompresses to {len(raw)} bytes, its header says otherwise")
        lines = RReader(raw).item()
        lines = lines["vector"] if isinstance(lines, dict) else lines
        if not isinstance(lines, list) or not all(isinstance(s, str) for s in lines):
            sys.exit(f"extract_austen.py: '{name}' is not a character vector")
        dest = os.path.join(out_dir, name + ".txt")
        with open(dest + ".tmp", "w", encoding="utf-8", newline="\n") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(dest + ".tmp", dest)
        print(f"{name}: {len(lines)} lines")


if __name__ == "__main__":
    main()
