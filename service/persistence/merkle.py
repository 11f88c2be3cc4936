"""The audit log's Merkle tree: RFC 9162 (Certificate Transparency v2) over SHA-256.

Pure functions on bytes, no SQL and no I/O. A "leaf" here is always a leaf hash
(`leaf_hash` of an entry's bytes), and every hash is a 32-byte digest. Entry
`seq` N is leaf index N - 1.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, TypeGuard

DIGEST_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    """Return the hash of one leaf: SHA-256(0x00 || data)."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the hash of an interior node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _split(size: int) -> int:
    """Return the largest power of two smaller than `size` (which is at least 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def _is_digest(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == DIGEST_SIZE


def _is_size(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def root(leaves: Sequence[bytes]) -> bytes:
    """Return the tree hash MTH of the given leaf hashes (`EMPTY_ROOT` for none).

    Built level by level: a level's odd last node moves up unchanged, which is
    the same tree as RFC 9162's split at the largest power of two.
    """
    if not leaves:
        return EMPTY_ROOT
    level = list(leaves)
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


class Frontier:
    """The perfect subtrees of a growing tree, largest first: one hash per set bit of its size.

    Enough to append leaves and compute the root without the leaves themselves.
    """

    def __init__(self) -> None:
        """Start an empty tree."""
        self._size = 0
        self._hashes: list[bytes] = []

    @property
    def size(self) -> int:
        """Return the number of leaves appended so far."""
        return self._size

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash, merging the equal-sized subtrees it completes."""
        if not _is_digest(leaf):
            raise ValueError("a leaf must be a 32-byte hash")
        node = leaf
        filled = self._size
        while filled & 1:
            node = node_hash(self._hashes.pop(), node)
            filled >>= 1
        self._hashes.append(node)
        self._size += 1

    def root(self) -> bytes:
        """Return the tree hash, folding the subtrees from the smallest (rightmost) one."""
        if not self._hashes:
            return EMPTY_ROOT
        result = self._hashes[-1]
        for subtree in reversed(self._hashes[:-1]):
            result = node_hash(subtree, result)
        return result

    def to_json(self) -> dict[str, Any]:
        """Return the frontier as JSON: its size and its subtree hashes in hex."""
        return {"size": self._size, "hashes": [h.hex() for h in self._hashes]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Frontier:
        """Return the frontier `to_json` wrote; raise ValueError if it is malformed."""
        size = data.get("size")
        hashes = data.get("hashes")
        if not _is_size(size):
            raise ValueError(f"frontier size must be a non-negative integer, got {size!r}")
        if not isinstance(hashes, list) or len(hashes) != size.bit_count():
            raise ValueError(f"a frontier of size {size} needs {size.bit_count()} hashes")
        frontier = cls()
        try:
            frontier._hashes = [bytes.fromhex(h) for h in hashes]
        except (TypeError, ValueError) as exc:
            raise ValueError("frontier hashes must be hex strings") from exc
        if not all(_is_digest(h) for h in frontier._hashes):
            raise ValueError("frontier hashes must be 32 bytes each")
        frontier._size = size
        return frontier


def _check_size(name: str, size: int, upper: int) -> None:
    if not _is_size(size) or size > upper:
        raise ValueError(f"{name} {size!r} is out of range 0..{upper}")


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """Return the audit path PATH(index, D[0:n]) of RFC 9162 for the tree of `leaves`.

    Ordered from the leaf's sibling up to the root's other child.
    """
    size = len(leaves)
    if not _is_size(index) or index >= size:
        raise ValueError(f"leaf index {index!r} is out of range for a tree of {size} leaves")
    # Walk down from the root, noting the subtree beside the path at each split.
    siblings: list[tuple[int, int]] = []
    low, high = 0, size
    while high - low > 1:
        middle = low + _split(high - low)
        if index < middle:
            siblings.append((middle, high))
            high = middle
        else:
            siblings.append((low, middle))
            low = middle
    return [root(leaves[start:end]) for start, end in reversed(siblings)]


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    """Return whether `proof` shows leaf hash `leaf` at `index` of the tree `root` of `size`.

    The algorithm of RFC 9162 section 2.1.3.2; False for any malformed argument.
    """
    if not (_is_size(index) and _is_size(size) and index < size):
        return False
    if not (_is_digest(leaf) and _is_digest(root) and all(_is_digest(p) for p in proof)):
        return False
    fn, sn, result = index, size - 1, leaf
    for sibling in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            result = node_hash(sibling, result)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            result = node_hash(result, sibling)
        fn >>= 1
        sn >>= 1
    return sn == 0 and result == root


def consistency_proof(old_size: int, leaves: Sequence[bytes]) -> list[bytes]:
    """Return PROOF(old_size, D[0:n]) of RFC 9162: the tree of `leaves` extends its first leaves.

    Empty when `old_size` is 0 or the whole tree.
    """
    size = len(leaves)
    _check_size("old size", old_size, size)
    if old_size in (0, size):
        return []
    # SUBPROOF recurses into one side only, so a loop walks it; `whole` is its flag b.
    ranges: list[tuple[int, int]] = []
    low, high, rest, whole = 0, size, old_size, True
    while rest != high - low:
        middle = low + _split(high - low)
        if low + rest <= middle:
            ranges.append((middle, high))
            high = middle
        else:
            ranges.append((low, middle))
            rest -= middle - low
            low = middle
            whole = False
    if not whole:
        ranges.append((low, high))
    return [root(leaves[start:end]) for start, end in reversed(ranges)]


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Return whether `proof` shows the tree `new_root` extends the tree `old_root`.

    The algorithm of RFC 9162 section 2.1.4.2, plus its edge cases: an empty old
    tree, and equal sizes with an empty proof. False for any malformed argument.
    """
    if not (_is_size(old_size) and _is_size(new_size) and old_size <= new_size):
        return False
    if not (_is_digest(old_root) and _is_digest(new_root)):
        return False
    if not all(_is_digest(p) for p in proof):
        return False
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT
    if old_size == new_size:
        return not proof and old_root == new_root
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for node in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(node, fr)
            sr = node_hash(node, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, node)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0
