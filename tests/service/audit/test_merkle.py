"""The Merkle tree against RFC 6962 / RFC 9162, computed here from their recursive definitions.

The reference functions below use hashlib directly, never the code under test.
"""

from __future__ import annotations

import hashlib
import random

import pytest

from service.persistence import merkle

MAX_SIZE = 70
MAX_CONSISTENCY_SIZE = 40

# The test leaves of the Certificate Transparency reference implementation, and the
# published roots of their first 1..8 leaves.
CT_LEAVES = [
    bytes.fromhex(text)
    for text in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2), by counting up."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(data: list[bytes]) -> bytes:
    """MTH(D[n]) of RFC 6962 section 2.1, over the leaves' data."""
    if not data:
        return sha256(b"")
    if len(data) == 1:
        return sha256(b"\x00" + data[0])
    k = split(len(data))
    return sha256(b"\x01" + mth(data[:k]) + mth(data[k:]))


def path(m: int, data: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 6962 section 2.1.1."""
    if len(data) == 1:
        return []
    k = split(len(data))
    if m < k:
        return [*path(m, data[:k]), mth(data[k:])]
    return [*path(m - k, data[k:]), mth(data[:k])]


def subproof(m: int, data: list[bytes], whole: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) of RFC 6962 section 2.1.2."""
    if m == len(data):
        return [] if whole else [mth(data)]
    k = split(len(data))
    if m <= k:
        return [*subproof(m, data[:k], whole), mth(data[k:])]
    return [*subproof(m - k, data[k:], False), mth(data[:k])]


def path_shape(m: int, n: int) -> str:
    """Which side each element of PATH(m, D[n]) hangs on, bottom up: L or R."""
    if n == 1:
        return ""
    k = split(n)
    return path_shape(m, k) + "R" if m < k else path_shape(m - k, n - k) + "L"


def proof_shape(m: int, n: int, whole: bool = True) -> str:
    """The sides of SUBPROOF(m, D[n], b), bottom up, with S for the old tree's own subtree."""
    if m == n:
        return "" if whole else "S"
    k = split(n)
    if m <= k:
        return proof_shape(m, k, whole) + "R"
    return proof_shape(m - k, n - k, False) + "L"


def tree_data(n: int) -> list[bytes]:
    return [f"entry {i}".encode() for i in range(n)]


def flip(value: bytes, bit: int) -> bytes:
    changed = bytearray(value)
    changed[bit // 8] ^= 1 << (bit % 8)
    return bytes(changed)


def test_hash_prefixes_and_the_empty_root() -> None:
    assert merkle.leaf_hash(b"abc") == sha256(b"\x00abc")
    assert merkle.node_hash(b"L" * 32, b"R" * 32) == sha256(b"\x01" + b"L" * 32 + b"R" * 32)
    assert merkle.EMPTY_ROOT.hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert merkle.root([]) == merkle.EMPTY_ROOT
    assert merkle.Frontier().root() == merkle.EMPTY_ROOT


def test_roots_match_the_published_certificate_transparency_vectors() -> None:
    for n, expected in enumerate(CT_ROOTS, start=1):
        assert mth(CT_LEAVES[:n]).hex() == expected  # the reference itself
        leaves = [merkle.leaf_hash(d) for d in CT_LEAVES[:n]]
        assert merkle.root(leaves).hex() == expected
    assert n == 8


def test_every_size_and_index_against_the_recursive_definition() -> None:
    proofs = 0
    for n in range(1, MAX_SIZE + 1):
        data = tree_data(n)
        leaves = [merkle.leaf_hash(d) for d in data]
        expected_root = mth(data)
        assert merkle.root(leaves) == expected_root
        frontier = merkle.Frontier()
        for leaf in leaves:
            frontier.append(leaf)
        assert frontier.size == n
        assert frontier.root() == expected_root
        for index in range(n):
            proof = merkle.inclusion_proof(index, leaves)
            assert proof == path(index, data), (index, n)
            assert merkle.verify_inclusion(index, n, leaves[index], proof, expected_root)
            proofs += 1
    assert proofs == MAX_SIZE * (MAX_SIZE + 1) // 2


def test_one_flipped_bit_anywhere_fails_inclusion() -> None:
    rng = random.Random(6962)
    cases = shapes_differ = 0
    for n in range(1, MAX_SIZE + 1):
        leaves = [merkle.leaf_hash(d) for d in tree_data(n)]
        tree_root = merkle.root(leaves)
        for index in range(n):
            leaf = leaves[index]
            proof = merkle.inclusion_proof(index, leaves)
            bit = rng.randrange(256)
            assert not merkle.verify_inclusion(index, n, flip(leaf, bit), proof, tree_root)
            assert not merkle.verify_inclusion(index, n, leaf, proof, flip(tree_root, bit))
            for position in range(len(proof)):
                tampered = [*proof]
                tampered[position] = flip(proof[position], bit)
                assert not merkle.verify_inclusion(index, n, leaf, tampered, tree_root)
            for b in range(8):
                other = index ^ (1 << b)
                assert not merkle.verify_inclusion(other, n, leaf, proof, tree_root), (index, n)
                # A root does not commit to its size (the signed checkpoint does): another
                # size passes exactly when its path has the same shape, as 0 of 6 and 0 of 7.
                size = n ^ (1 << b)
                same = index < size and path_shape(index, size) == path_shape(index, n)
                assert merkle.verify_inclusion(index, size, leaf, proof, tree_root) == same
                shapes_differ += not same
            assert not merkle.verify_inclusion(index, n, leaf, [*proof, leaf], tree_root)
            # An element past the root must not lift the proof to a made-up larger tree.
            lifted = merkle.node_hash(leaf, tree_root)
            assert not merkle.verify_inclusion(index, n, leaf, [*proof, leaf], lifted)
            if proof:
                assert not merkle.verify_inclusion(index, n, leaf, proof[:-1], tree_root)
            cases += 1
    assert cases == MAX_SIZE * (MAX_SIZE + 1) // 2
    assert shapes_differ > cases


def test_inclusion_refuses_out_of_range_and_malformed_arguments() -> None:
    leaves = [merkle.leaf_hash(d) for d in tree_data(5)]
    tree_root = merkle.root(leaves)
    for index in (-1, 5, 6):
        with pytest.raises(ValueError, match="out of range"):
            merkle.inclusion_proof(index, leaves)
    with pytest.raises(ValueError, match="out of range"):
        merkle.inclusion_proof(0, [])
    proof = merkle.inclusion_proof(4, leaves)
    assert merkle.verify_inclusion(4, 5, leaves[4], proof, tree_root)
    assert not merkle.verify_inclusion(5, 5, leaves[4], proof, tree_root)
    assert not merkle.verify_inclusion(-1, 5, leaves[4], proof, tree_root)
    assert not merkle.verify_inclusion(0, 0, leaves[0], [], merkle.EMPTY_ROOT)
    assert not merkle.verify_inclusion(4, 5, leaves[4][:31], proof, tree_root)
    assert not merkle.verify_inclusion(4, 5, leaves[4], [proof[0][:31]], tree_root)
    assert not merkle.verify_inclusion(4, 5, leaves[4], proof, tree_root.hex())  # type: ignore[arg-type]
    # A one-leaf tree's root is its leaf, with an empty proof.
    assert merkle.verify_inclusion(0, 1, leaves[0], [], leaves[0])
    assert not merkle.verify_inclusion(0, 1, leaves[0], [leaves[1]], leaves[0])


def test_consistency_for_every_pair_of_sizes() -> None:
    pairs = 0
    for n in range(1, MAX_CONSISTENCY_SIZE + 1):
        data = tree_data(n)
        leaves = [merkle.leaf_hash(d) for d in data]
        new_root = mth(data)
        for m in range(1, n + 1):
            proof = merkle.consistency_proof(m, leaves)
            assert proof == subproof(m, data, True), (m, n)
            assert merkle.verify_consistency(m, n, mth(data[:m]), new_root, proof), (m, n)
            pairs += 1
    assert pairs == MAX_CONSISTENCY_SIZE * (MAX_CONSISTENCY_SIZE + 1) // 2


def test_tampered_consistency_proofs_fail() -> None:
    rng = random.Random(9162)
    cases = shapes_differ = 0
    for n in range(1, MAX_CONSISTENCY_SIZE + 1):
        data = tree_data(n)
        leaves = [merkle.leaf_hash(d) for d in data]
        new_root = mth(data)
        for m in range(1, n + 1):
            old_root = mth(data[:m])
            proof = merkle.consistency_proof(m, leaves)
            bit = rng.randrange(256)
            assert not merkle.verify_consistency(m, n, flip(old_root, bit), new_root, proof)
            assert not merkle.verify_consistency(m, n, old_root, flip(new_root, bit), proof)
            for position in range(len(proof)):
                tampered = [*proof]
                tampered[position] = flip(proof[position], bit)
                assert not merkle.verify_consistency(m, n, old_root, new_root, tampered)
            for other in (m - 1, m + 1):
                if 1 <= other <= n:
                    assert not merkle.verify_consistency(other, n, old_root, new_root, proof)
            for size in (n - 1, n + 1):
                # As for inclusion: another new size passes exactly when the shape is the same.
                same = size >= m and proof_shape(m, size) == proof_shape(m, n)
                assert merkle.verify_consistency(m, size, old_root, new_root, proof) == same
                shapes_differ += not same
            assert not merkle.verify_consistency(m, n, old_root, new_root, [*proof, new_root])
            if proof:
                assert not merkle.verify_consistency(m, n, old_root, new_root, proof[1:])
            cases += 1
    assert cases == MAX_CONSISTENCY_SIZE * (MAX_CONSISTENCY_SIZE + 1) // 2
    assert shapes_differ > cases // 4


def test_consistency_edges() -> None:
    leaves = [merkle.leaf_hash(d) for d in tree_data(6)]
    new_root = merkle.root(leaves)
    assert merkle.consistency_proof(0, leaves) == []
    assert merkle.verify_consistency(0, 6, merkle.EMPTY_ROOT, new_root, [])
    assert not merkle.verify_consistency(0, 6, new_root, new_root, [])
    assert merkle.consistency_proof(6, leaves) == []
    assert merkle.verify_consistency(6, 6, new_root, new_root, [])
    assert not merkle.verify_consistency(6, 6, new_root, new_root, [new_root])
    old_root = merkle.root(leaves[:3])
    proof = merkle.consistency_proof(3, leaves)
    assert not merkle.verify_consistency(6, 3, new_root, old_root, proof)
    assert not merkle.verify_consistency(-1, 6, old_root, new_root, proof)
    assert not merkle.verify_consistency(3, 6, old_root, new_root, [])
    for old_size in (-1, 7):
        with pytest.raises(ValueError, match="out of range"):
            merkle.consistency_proof(old_size, leaves)


def test_frontier_round_trips_through_json() -> None:
    frontier = merkle.Frontier()
    leaves = [merkle.leaf_hash(d) for d in tree_data(MAX_SIZE)]
    for n, leaf in enumerate(leaves, start=1):
        frontier.append(leaf)
        stored = frontier.to_json()
        assert len(stored["hashes"]) == bin(n).count("1")
        restored = merkle.Frontier.from_json(stored)
        assert restored.size == n
        assert restored.root() == merkle.root(leaves[:n])
    restored.append(leaves[0])
    assert restored.root() == merkle.root([*leaves, leaves[0]])
    assert n == MAX_SIZE


@pytest.mark.parametrize(
    "stored",
    [
        {},
        {"size": -1, "hashes": []},
        {"size": True, "hashes": ["00" * 32]},
        {"size": 3, "hashes": ["00" * 32]},
        {"size": 1, "hashes": ["zz" * 32]},
        {"size": 1, "hashes": ["00" * 31]},
        {"size": 1, "hashes": [7]},
        {"size": 1, "hashes": "00" * 32},
    ],
)
def test_frontier_refuses_malformed_json(stored: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="frontier"):
        merkle.Frontier.from_json(stored)


def test_frontier_refuses_a_leaf_that_is_not_a_hash() -> None:
    with pytest.raises(ValueError, match="32-byte"):
        merkle.Frontier().append(b"short")


def test_a_large_tree_agrees_everywhere() -> None:
    n = 300_001
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(n)]
    frontier = merkle.Frontier()
    for leaf in leaves:
        frontier.append(leaf)
    tree_root = merkle.root(leaves)
    assert frontier.root() == tree_root
    for index in (0, 123_456, n - 1):
        proof = merkle.inclusion_proof(index, leaves)
        assert merkle.verify_inclusion(index, n, leaves[index], proof, tree_root)
    old = 262_145
    proof = merkle.consistency_proof(old, leaves)
    assert merkle.verify_consistency(old, n, merkle.root(leaves[:old]), tree_root, proof)
