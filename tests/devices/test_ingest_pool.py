"""Ingest's verification pool: a batch checked in parts on threads gets the same verdicts as the
same batch checked inline, for Ed25519 (libsodium) and P-256 (cryptography) alike."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from device_agents.keys import new_signing_key
from gateway.adapters.db.device_models import DeviceMessage
from gateway.services.device_ingest import Incoming, Ingestor
from tests.devices.conftest import SignedDevice


@pytest.fixture
def pool():
    with ThreadPoolExecutor(2) as executor:
        yield executor


def verdicts(verified) -> list[tuple]:
    """What verify() decided, in an order that does not depend on how the batch was split."""
    accepted = [("accepted", item.device.id, item.message.seq) for item in verified.accepted]
    rejected = [("rejected", item.device_id, item.seq, item.reason.value) for item in verified.rejected]
    return sorted(accepted + rejected, key=repr)


def mixed_batch(shop, algorithm: str) -> tuple[list[Incoming], SignedDevice]:
    """Good messages of two devices, interleaved with a forged one (signed by another key), one
    signed by the other device's registered key, a malformed one and one on a foreign topic."""
    device, neighbour = SignedDevice(shop, "iot", algorithm), SignedDevice(shop, "iot", algorithm)
    batch = [device.message() for _ in range(3)] + [neighbour.message() for _ in range(3)]
    batch.insert(1, device.message(key=new_signing_key(algorithm)))  # forged
    batch.insert(4, device.message(key=neighbour.signing_key))  # a real key, but not this device's
    batch.insert(5, Incoming(f"devices/{device.id}/telemetry", b"\x84junk"))
    batch.append(Incoming("devices/a/b/c", device.message().payload))
    return batch, device


@pytest.mark.parametrize("algorithm", ["EdDSA", "ES256"])
def test_the_pool_decides_as_inline_verification_does(any_gw, any_shop, pool, algorithm):
    batch, device = mixed_batch(any_shop, algorithm)
    inline = Ingestor(any_gw).verify(batch)
    for parts in (2, 3, len(batch) + 5):  # more parts than messages too
        pooled = Ingestor(any_gw, chunk_map=pool.map, chunks=parts).verify(batch)
        assert verdicts(pooled) == verdicts(inline)
    assert len(inline.accepted) == 6
    assert sorted(item.reason.value for item in inline.rejected) == [
        "bad_signature", "bad_signature", "bad_topic", "malformed"]


@pytest.mark.parametrize("algorithm", ["EdDSA", "ES256"])
def test_a_forged_message_in_a_pooled_batch_is_refused_and_the_others_are_stored(any_gw, any_shop, pool, algorithm):
    batch, device = mixed_batch(any_shop, algorithm)
    result = Ingestor(any_gw, chunk_map=pool.map, chunks=2).process(batch)
    assert result.stored == 6
    assert dict(result.rejections) == {"bad_signature": 2, "malformed": 1, "bad_topic": 1}
    with any_gw.db.unit_of_work() as session:
        stored = sorted(session.scalars(select(DeviceMessage.seq).where(DeviceMessage.device_id == device.id)))
    assert stored == [1, 2, 3]  # the forged and wrong-key messages (seq 4 and 5) are not among them


def test_an_empty_batch_and_a_batch_of_only_bad_topics_go_through_the_pool(any_gw, pool):
    ingestor = Ingestor(any_gw, chunk_map=pool.map, chunks=2)
    assert ingestor.process([]).stored == 0
    assert dict(ingestor.process([Incoming("nope", b"")]).rejections) == {"bad_topic": 1}
