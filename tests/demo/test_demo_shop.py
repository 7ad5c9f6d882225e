"""The sample shop: the flag picks the checkout per shopper, the SDK's middleware counts each
checkout request under the arm that served it, and the shop counts orders per arm."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from rollout.demo.behaviour import Quality
from rollout.demo.shop import (
    CURRENT_RELEASE,
    FLAG,
    USER_HEADER,
    VERSION_HEADER,
    ShopSettings,
    create_shop,
)
from rollout.flags import FlagConfig
from rollout.plan.model import FlagSpec
from rollout.providers.metrics._base import Steps
from rollout.providers.metrics.command import parse_output
from rollout.providers.traffic.flag import flag_from_spec
from rollout.sdk import RolloutClient


def _client(percent: float | None) -> RolloutClient:
    flags = [] if percent is None else [flag_from_spec(FlagSpec(key=FLAG), percent)]
    config = FlagConfig.model_validate(
        {
            "environment": "production",
            "version": 1,
            "flags": [f.model_dump(mode="json") for f in flags],
            "segments": [],
        }
    )
    return RolloutClient(None, "production", offline_config=config)


def _shop(client: RolloutClient, quality: Quality = Quality.GOOD) -> httpx.AsyncClient:
    settings = ShopSettings(release="9.9.9", quality=quality, server_url="http://unused")
    transport = httpx.ASGITransport(app=create_shop(settings, client))
    return httpx.AsyncClient(transport=transport, base_url="http://shop")


async def _visit(shop: httpx.AsyncClient, user: str) -> list[httpx.Response]:
    headers = {USER_HEADER: user}
    return [
        await shop.get("/products/sku-001", headers=headers),
        await shop.post("/cart/items", headers=headers),
        await shop.get("/checkout", headers=headers),
        await shop.post("/orders", headers=headers),
    ]


@pytest.mark.parametrize(
    ("percent", "release", "arm"), [(100.0, "9.9.9", "on"), (0.0, None, "off")]
)
def test_the_flag_decides_which_checkout_serves(
    percent: float, release: str | None, arm: str
) -> None:
    client = _client(percent)

    async def go() -> list[httpx.Response]:
        async with _shop(client) as shop:
            return await _visit(shop, "u-00001")

    browse, *checkout = asyncio.run(go())
    assert VERSION_HEADER not in browse.headers
    assert {r.headers[VERSION_HEADER] for r in checkout} == {release or CURRENT_RELEASE}
    arms = {(a.flag, a.variant): a.requests for a in client.telemetry_snapshot()}
    assert arms == {(FLAG, arm): 3}  # the three checkout requests, not the product page


def test_without_the_flag_the_current_checkout_serves_and_no_arm_counts() -> None:
    client = _client(None)

    async def go() -> list[httpx.Response]:
        async with _shop(client) as shop:
            return await _visit(shop, "u-00002")

    responses = asyncio.run(go())
    assert responses[2].headers[VERSION_HEADER] == CURRENT_RELEASE
    assert client.telemetry_snapshot() == ()


def test_failures_are_5xx_the_middleware_counts_as_errors() -> None:
    client = _client(100.0)

    async def go() -> list[int]:
        async with _shop(client, Quality.BAD) as shop:
            answers = await asyncio.gather(
                *(shop.post("/cart/items", headers={USER_HEADER: f"u-{n}"}) for n in range(300))
            )
            return [answer.status_code for answer in answers]

    statuses = asyncio.run(go())
    (arm,) = client.telemetry_snapshot()
    assert arm.requests == 300
    assert arm.errors == statuses.count(500) > 0
    assert set(statuses) == {200, 500}


def test_orders_per_arm_come_out_as_the_metric_command_reads_them() -> None:
    clock = [1000.2]
    client = _client(50.0)
    settings = ShopSettings(release="9.9.9", quality=Quality.GOOD, server_url="http://unused")
    app = create_shop(settings, client, clock=lambda: clock[0])

    async def go() -> tuple[list[list[httpx.Response]], dict[str, object]]:  # visits, answer
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop") as shop:
            visits = await asyncio.gather(*(_visit(shop, f"u-{n:05d}") for n in range(40)))
            clock[0] = 1010.0
            answer = await shop.get(
                "/_demo/conversions", params={"start": 1000, "end": 1002, "step": 2}
            )
            assert answer.status_code == 200
            return visits, answer.json()

    visits, body = asyncio.run(go())
    (interval,) = parse_output(json.dumps(body), Steps(1000.0, 1002.0, 2.0), "conversion")
    served = {"on": 0, "off": 0}
    ordered = {"on": 0, "off": 0}
    for _, _, page, order in visits:
        arm = "on" if page.headers[VERSION_HEADER] == "9.9.9" else "off"
        served[arm] += 1
        ordered[arm] += order.status_code == 201
    assert (interval.canary.requests, interval.control.requests) == (served["on"], served["off"])
    assert (interval.canary.conversions, interval.control.conversions) == (
        ordered["on"],
        ordered["off"],
    )
    assert served["on"] and served["off"]


def test_a_bad_conversions_query_is_a_400() -> None:
    async def go() -> httpx.Response:
        async with _shop(_client(0.0)) as shop:
            return await shop.get("/_demo/conversions", params={"start": "x"})

    assert asyncio.run(go()).status_code == 400
