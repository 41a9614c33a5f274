# The marc21 sniplet: binary MARC records built with struct-free string arithmetic; near-misses: self._fields, _leader(), __len__, __iter__
class Field:
    def __init__(self, tag, indicators="  ", **subfields):
        self.tag = tag
        self.indicators = indicators
        self.subfields = subfields

    def encode(self):
        body = self.indicators + "".join("\x1f%s%s" % (k, v) for k, v in self.subfields.items())
        return (body + "\x1e").encode("utf-8")


class Record:
    def __init__(self):
        self._fields = []

    def add(self, tag, **subfields):
        self._fields.append(Field(tag, **subfields))

    def __len__(self):
        return len(self._fields)

    def __iter__(self):
        return iter(self._fields)

    def _leader(self, length, base):
        return "%05dnam a22%05d   4500" % (length, base)

    def as_marc(self):
        directory, data, offset = [], b"", 0
        for f in self._fields:
            chunk = f.encode()
            directory.append("%s%04d%05d" % (f.tag, len(chunk), offset))
            data += chunk
            offset += len(chunk)
        dir_bytes = ("".join(directory) + "\x1e").encode("ascii")
        base = 24 + len(dir_bytes)
        length = base + len(data) + 1
        return self._leader(length, base).encode("ascii") + dir_bytes + data + b"\x1d"
