"""A strict binary codec for the plain data that crosses between a learner's kernel and the
trusted test runner.

Only these types are carried, exactly (no subclasses): ``None``, ``bool``, ``int``, ``float``
(bit for bit, nan and inf included), ``complex``, ``fractions.Fraction``, ``decimal.Decimal``,
``str`` (valid UTF-8 only), ``bytes``, ``tuple``, ``list``, ``dict`` (keys: ``str``, whose
hashes Python randomises, so no crafted keys can make decoding slow), numpy scalars and numpy
arrays of booleans or numbers (dtype and shape kept). Anything
else raises :class:`Unsupported` naming its type, and every decoded message is checked against
:class:`Caps` (size, nesting depth, number of items), so a hostile kernel can only send numbers,
text and containers of them, never an object with behaviour of its own.

This module is also sent, as source, into the learner's kernel (see :mod:`autograder.callserver`),
so it imports nothing but the standard library and numpy, and has no ``__future__`` import.

Examples
--------
>>> import numpy as np
>>> value = (1, 2.5, float("nan"), [np.arange(3, dtype=np.int16)], {"k": None, "j": True})
>>> back = decode(encode(value))
>>> type(back), back[0], back[1], back[2] != back[2], back[3][0].dtype, back[4]
(<class 'tuple'>, 1, 2.5, True, dtype('int16'), {'k': None, 'j': True})
>>> encode(object())
Traceback (most recent call last):
...
autograder.codec.Unsupported: an object of type object
"""

import decimal
import fractions
import struct
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Caps:
    """The largest message the codec encodes or accepts.

    Examples
    --------
    >>> Caps().max_bytes
    16777216
    """

    max_bytes: int = 16 * 2**20
    max_depth: int = 32
    max_items: int = 1_000_000
    max_int_bytes: int = 1024
    max_dict_items: int = 10_000


class Unsupported(ValueError):
    """A value of a type the codec does not carry (its message names the type)."""


class CodecError(ValueError):
    """A message that is malformed or breaks a cap."""


#: Numpy dtype kinds carried in arrays and scalars: booleans, integers, floats, complex.
NUMERIC_KINDS = "biufc"
_LEN = struct.Struct("<I")
_F64 = struct.Struct("<d")


def _type_name(value: object) -> str:
    kind = type(value)
    name = f"{kind.__module__}.{kind.__qualname__}"
    name = name.removeprefix("builtins.")
    return name[:120]


def encode(value: object, caps: Caps = Caps()) -> bytes:
    """``value`` as bytes, or :class:`Unsupported` / :class:`CodecError`.

    Examples
    --------
    >>> encode(True)
    b'T'
    >>> decode(encode(2**70)) == 2**70
    True
    """
    out: list[bytes] = []
    _encode(value, out, caps, 0, [0])
    data = b"".join(out)
    if len(data) > caps.max_bytes:
        raise CodecError(f"a message of {len(data)} bytes is over the cap of {caps.max_bytes}")
    return data


def _encode(value: object, out: list[bytes], caps: Caps, depth: int, count: list[int]) -> None:
    count[0] += 1
    if count[0] > caps.max_items:
        raise CodecError(f"more than {caps.max_items} items")
    if depth > caps.max_depth:
        raise CodecError(f"nested deeper than {caps.max_depth}")
    kind = type(value)
    if value is None:
        out.append(b"N")
    elif kind is bool:
        out.append(b"T" if value else b"F")
    elif kind is int:
        raw = value.to_bytes((value.bit_length() + 8) // 8 or 1, "little", signed=True)
        if len(raw) > caps.max_int_bytes:
            raise CodecError(f"an integer of {len(raw)} bytes")
        out += [b"i", _LEN.pack(len(raw)), raw]
    elif kind is float:
        out += [b"f", _F64.pack(value)]
    elif kind is complex:
        out += [b"c", _F64.pack(value.real), _F64.pack(value.imag)]
    elif kind is str:
        raw = value.encode("utf-8", "backslashreplace")  # a lone surrogate becomes text
        out += [b"s", _LEN.pack(len(raw)), raw]
    elif kind is fractions.Fraction:
        out.append(b"q")
        _encode(value.numerator, out, caps, depth + 1, count)
        _encode(value.denominator, out, caps, depth + 1, count)
    elif kind is decimal.Decimal:
        raw = str(value).encode("ascii")
        out += [b"D", _LEN.pack(len(raw)), raw]
    elif kind is bytes:
        out += [b"b", _LEN.pack(len(value)), value]
    elif kind in (tuple, list):
        out += [b"t" if kind is tuple else b"l", _LEN.pack(len(value))]
        for item in value:
            _encode(item, out, caps, depth + 1, count)
    elif kind is dict:
        if len(value) > caps.max_dict_items:
            raise CodecError(f"a dict of {len(value)} items")
        out += [b"d", _LEN.pack(len(value))]
        for key, item in value.items():
            if type(key) is not str:
                raise Unsupported(f"a dict with a key of type {_type_name(key)}")
            _encode(key, out, caps, depth + 1, count)
            _encode(item, out, caps, depth + 1, count)
    elif kind is np.ndarray or isinstance(value, np.generic) and type(value).__module__ == "numpy":
        _encode_numpy(value, out, caps)
    else:
        raise Unsupported(f"an object of type {_type_name(value)}")


def _encode_numpy(value: object, out: list[bytes], caps: Caps) -> None:
    dtype = value.dtype  # type: ignore[attr-defined]
    if dtype.kind not in NUMERIC_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise Unsupported(f"a numpy value of dtype {str(dtype)[:40]}")
    code = dtype.newbyteorder("<").str.encode("ascii")
    if type(value) is np.ndarray:
        if value.ndim > caps.max_depth or value.size > caps.max_items:
            raise CodecError(f"an array of shape {value.shape} is over the caps")
        raw = np.ascontiguousarray(value, dtype=dtype.newbyteorder("<")).tobytes()
        out += [b"a", bytes([len(code)]), code, bytes([value.ndim])]
        out += [_LEN.pack(n) for n in value.shape]
        out += [_LEN.pack(len(raw)), raw]
    else:
        raw = np.asarray(value, dtype=dtype.newbyteorder("<")).tobytes()
        out += [b"g", bytes([len(code)]), code, raw]


def decode(data: bytes, caps: Caps = Caps()) -> object:
    """The value that :func:`encode` made into ``data``, or :class:`CodecError`.

    Examples
    --------
    >>> decode(b"f" + b"\\x00" * 8)
    0.0
    >>> decode(b"l\\xff\\xff\\xff\\xff")
    Traceback (most recent call last):
    ...
    autograder.codec.CodecError: a list of 4294967295 items is over the caps
    """
    if len(data) > caps.max_bytes:
        raise CodecError(f"a message of {len(data)} bytes is over the cap of {caps.max_bytes}")
    reader = _Reader(bytes(data), caps)
    try:
        value = reader.value(0)
    except CodecError:
        raise
    except Exception as error:  # whatever a crafted message makes go wrong, it is malformed
        raise CodecError(f"malformed message: {type(error).__name__}") from None
    if reader.pos != len(reader.data):
        raise CodecError(f"{len(reader.data) - reader.pos} bytes left over")
    return value


class _Reader:
    def __init__(self, data: bytes, caps: Caps) -> None:
        self.data, self.caps, self.pos, self.count = data, caps, 0, 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise CodecError("the message ends too early")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def length(self) -> int:
        return _LEN.unpack(self.take(4))[0]

    def value(self, depth: int) -> object:
        self.count += 1
        if self.count > self.caps.max_items or depth > self.caps.max_depth:
            raise CodecError("too many items or nested too deep")
        tag = self.take(1)
        if tag in _CONSTANTS:
            return _CONSTANTS[tag]
        if tag == b"i":
            size = self.length()
            if size > self.caps.max_int_bytes:
                raise CodecError(f"an integer of {size} bytes")
            return int.from_bytes(self.take(size), "little", signed=True)
        if tag == b"f":
            return _F64.unpack(self.take(8))[0]
        if tag == b"c":
            return complex(_F64.unpack(self.take(8))[0], _F64.unpack(self.take(8))[0])
        if tag == b"s":
            return self.take(self.length()).decode("utf-8")  # strict: no lone surrogates
        if tag == b"q":
            numerator, denominator = self.value(depth + 1), self.value(depth + 1)
            if type(numerator) is not int or type(denominator) is not int or not denominator:
                raise CodecError("a malformed fraction")
            return fractions.Fraction(numerator, denominator)
        if tag == b"D":
            return decimal.Decimal(self.take(self.length()).decode("ascii"))
        if tag == b"b":
            return self.take(self.length())
        if tag in (b"t", b"l", b"d"):
            return self.container(tag, depth)
        if tag in (b"a", b"g"):
            return self.numpy(tag)
        raise CodecError(f"unknown tag {tag!r}")

    def container(self, tag: bytes, depth: int) -> object:
        n = self.length()
        if n > self.caps.max_items or n > len(self.data) - self.pos:
            kind = {b"t": "tuple", b"l": "list", b"d": "dict"}[tag]
            raise CodecError(f"a {kind} of {n} items is over the caps")
        if tag == b"d":
            if n > self.caps.max_dict_items:
                raise CodecError(f"a dict of {n} items is over the caps")
            result = {}
            for _ in range(n):
                key = self.value(depth + 1)
                if type(key) is not str:
                    raise CodecError("a dict key that is not a str")
                result[key] = self.value(depth + 1)
            return result
        items = [self.value(depth + 1) for _ in range(n)]
        return tuple(items) if tag == b"t" else items

    def numpy(self, tag: bytes) -> object:
        code = self.take(self.take(1)[0]).decode("ascii")
        try:
            dtype = np.dtype(code)
        except TypeError:
            raise CodecError(f"unknown dtype {code[:20]!r}") from None
        if dtype.kind not in NUMERIC_KINDS or dtype.fields is not None:
            raise CodecError(f"dtype {code[:20]!r} is not numeric")
        if tag == b"g":
            return np.frombuffer(self.take(dtype.itemsize), dtype=dtype)[0]
        ndim = self.take(1)[0]
        shape = tuple(self.length() for _ in range(ndim))
        size = 1
        for n in shape:
            size *= n
        if ndim > self.caps.max_depth or size > self.caps.max_items:
            raise CodecError(f"an array of shape {shape} is over the caps")
        raw = self.take(self.length())
        if len(raw) != size * dtype.itemsize:
            raise CodecError(f"an array of shape {shape} with {len(raw)} bytes")
        return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


_CONSTANTS = {b"N": None, b"T": True, b"F": False}
