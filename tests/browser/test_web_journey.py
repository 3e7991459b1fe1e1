"""The web page in headless Chromium, driven by Playwright, against a node.

The journey: open the page, type a prefix, pick a suggestion with the keyboard, open
"similar files" for a result, start a download, wait until the page shows it complete
(waiting on the DOM state, never on time), and check the file on disk is byte-identical
to the shared one. Screenshots of each step go to ``test-artifacts/browser/``.

Chromium is Debian's (``/usr/bin/chromium``); Playwright's own browser download is
never used. ``require_binary`` skips locally without it and fails in CI.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import ClientSession, web

from swarmseek.api.http import ApiConfig, make_app
from swarmseek.api.services_node import NodeServices, serve_api
from tests.support.clients import require_binary
from tests.support.fake_services import Card, FakeServices, sample_cards
from tests.support.node_net import CORPUS, catalogue_lines, node_network

playwright_api = pytest.importorskip("playwright.async_api")

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CORPUS_FILE = CORPUS / "licenses" / "GPL-3.txt"
ARCHIVES = CORPUS / "archives"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CONFLICT = '{"error": {"status": 409, "code": "conflict", "message": "already downloading"}}'
TIMEOUT_MS = 30_000  # bounds a failure only; every wait is on a DOM state


@dataclass
class Backend:
    url: str
    shared: Path  # the file a node shares
    download_dir: Path  # where the downloading node writes it
    prefix: str  # typed in the search box
    suggestion: str  # the suggestion to pick
    name: str  # the shared file's name as the results show it


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


@pytest.fixture
async def fake_backend(tmp_path: Path) -> AsyncIterator[Backend]:
    shared = tmp_path / "share" / "gnu-gpl-v3.txt"
    shared.parent.mkdir()
    shared.write_bytes(CORPUS_FILE.read_bytes())
    card = Card(shared.name, shared.stat().st_size, 1_183_334_400, peers=1)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    services = FakeServices(
        cards=[*sample_cards(), card],
        download_dir=downloads,
        sources={card.infohash: shared},
        auto_steps=5,
        broad_prefix_below=2,
    )
    runner, url = await _serve(make_app(services, ApiConfig()))
    try:
        yield Backend(url, shared, downloads, "gn", "gnu", shared.name)
    finally:
        services.close()
        await runner.cleanup()


@pytest.fixture
async def real_backend(tmp_path: Path) -> AsyncIterator[Backend]:
    """Four real nodes on 127.0.0.1: one shares two corpus archives, one serves the page."""
    async with node_network(tmp_path, 4) as net:
        sharer, getter = net.nodes[0], net.nodes[2]
        sharing = NodeServices(sharer)
        for name in ("gnu-licenses-v1.tar", "gnu-licenses-v2.tar"):
            await sharing.share(str(ARCHIVES / name))
        async with serve_api(getter, "127.0.0.1", 0, None) as url, ClientSession() as http:
            # The getter's catalogue, as `swarmseek demo` gives it: some Debian packages,
            # imported through the API, and the cards of a first search (suggestions come
            # from the words of cards the node has seen).
            lines = b"".join(orjson.dumps(line) + b"\n" for line in catalogue_lines(100, 300))
            headers = {"Content-Type": "application/x-ndjson"}
            async with http.post(f"{url}/api/v1/imports", data=lines, headers=headers) as r:
                assert r.status == 200, await r.text()
            async with http.get(f"{url}/api/v1/search", params={"q": "gnu licenses"}) as r:
                found = [result["name"] for result in (await r.json())["results"]]
                assert "gnu-licenses-v1.tar" in found, found
            yield Backend(
                url,
                ARCHIVES / "gnu-licenses-v1.tar",
                getter.config.downloads,
                "gn",
                "gnu",
                "gnu-licenses-v1.tar",
            )


@pytest.fixture
async def page(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    chromium = require_binary("chromium")
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1000, "height": 800})
            context.set_default_timeout(TIMEOUT_MS)
            tab = await context.new_page()
            errors: list[str] = []
            tab.on("pageerror", lambda exc: errors.append(str(exc)))
            tab.on("console", lambda msg: errors.append(msg.text) if _is_error(msg) else None)
            yield tab
            assert errors == [], errors  # no script errors, no CSP violations
        finally:
            await browser.close()


def _is_error(message: Any) -> bool:
    # Chromium logs every 4xx answer; the tests that provoke them check the page instead.
    return bool(message.type == "error" and "Failed to load resource" not in message.text)


class Shots:
    def __init__(self, name: str) -> None:
        self.folder = ARTIFACTS / name
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count = 0

    async def __call__(self, page: Any, step: str) -> None:
        self.count += 1
        await page.screenshot(
            path=str(self.folder / f"{self.count:02d}-{step}.png"), full_page=True
        )


async def journey(page: Any, backend: Backend, shots: Shots) -> None:
    expect = playwright_api.expect
    await page.goto(backend.url + "/")
    search_box = page.get_by_role("combobox", name="Search files by name")
    await expect(search_box).to_be_focused()
    await shots(page, "opened")

    # Type a prefix; suggestions appear; choose one with the keyboard.
    await search_box.press_sequentially(backend.prefix)
    option = page.get_by_role("option", name=backend.suggestion, exact=True)
    await expect(option).to_be_visible()
    await expect(search_box).to_have_attribute("aria-expanded", "true")
    await shots(page, "suggestions")
    while await option.get_attribute("aria-selected") != "true":
        await search_box.press("ArrowDown")
    await search_box.press("Enter")
    await expect(search_box).to_have_value(backend.suggestion + " ")
    await expect(search_box).to_have_attribute("aria-expanded", "false")
    row = page.locator("#results tbody tr", has_text=backend.name)
    await expect(row).to_be_visible()
    await shots(page, "results")

    # Similar files for that result: focus moves to the results heading.
    await row.get_by_role("button", name=f"Find files similar to {backend.name}").click()
    heading = page.locator("#results-heading")
    await expect(heading).to_have_text(f"Similar to {backend.name}")
    await expect(heading).to_be_focused()
    await expect(page.locator("#score-col")).to_have_text("Similarity")
    await expect(page.locator("#results tbody tr").first).to_be_visible()
    await shots(page, "similar")
    await page.get_by_role("button", name="Back to search results").click()
    await expect(row).to_be_visible()

    # Download it and wait for the page to show it complete.
    await row.get_by_role("button", name=f"Download {backend.name}").click()
    item = page.locator("#downloads li", has_text=backend.name)
    await expect(item).to_have_count(1)
    await shots(page, "downloading")
    await page.wait_for_selector('#downloads li[data-state="complete"]', timeout=TIMEOUT_MS)
    await expect(page.get_by_role("status")).to_have_text(f"{backend.name} downloaded")
    await expect(item.locator(".download-info")).to_contain_text(
        f"in {backend.download_dir}/{backend.name}"
    )
    await shots(page, "complete")

    files = [p for p in backend.download_dir.rglob("*") if p.is_file()]
    got = next(p for p in files if p.name == backend.name)
    assert got.read_bytes() == backend.shared.read_bytes()

    # A file of one's own: choose it, and see what is similar to it.
    async with page.expect_file_chooser() as chooser:
        await page.get_by_role("button", name="choose one").click()
    await (await chooser.value).set_files(str(backend.shared))
    await expect(heading).to_have_text(f"Similar to {backend.shared.name}")
    await expect(page.locator("#results tbody tr").first).to_be_visible()
    await shots(page, "similar-to-file")

    # The same page on a phone, and in dark mode.
    await page.set_viewport_size({"width": 360, "height": 740})
    await page.emulate_media(color_scheme="dark")
    await page.get_by_role("button", name="Search", exact=True).click()
    await expect(heading).to_have_text("Results")
    await expect(row).to_be_visible()
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the page scrolls sideways at 360 px: {width}"
    await shots(page, "phone-dark")


async def test_journey_with_fake_node(page: Any, fake_backend: Backend) -> None:
    await journey(page, fake_backend, Shots("fake"))


@pytest.mark.timeout(120)
async def test_journey_with_real_nodes(page: Any, real_backend: Backend) -> None:
    await journey(page, real_backend, Shots("real"))


@pytest.mark.timeout(120)
async def test_a_typo_is_corrected_with_real_nodes(page: Any, real_backend: Backend) -> None:
    expect = playwright_api.expect
    await page.goto(real_backend.url + "/")
    search_box = page.get_by_role("combobox", name="Search files by name")
    await search_box.fill("gnu licneses")  # two letters swapped in the word being typed
    await search_box.press("Enter")
    await expect(page.get_by_role("status")).to_have_text(
        "No name has every word of “gnu licneses”: 2 results for “gnu licenses”"
    )
    row = page.locator("#results tbody tr", has_text=real_backend.name)
    await expect(row).to_be_visible()
    await Shots("typo")(page, "corrected")


async def test_errors_and_empty_states(page: Any, fake_backend: Backend) -> None:
    expect = playwright_api.expect
    shots = Shots("states")
    await page.goto(fake_backend.url + "/")
    search_box = page.get_by_role("combobox", name="Search files by name")
    await search_box.fill("d")
    await search_box.press("Enter")
    await expect(page.get_by_role("status")).to_contain_text("type a few more letters")
    await expect(page.get_by_role("alert")).to_be_hidden()
    await search_box.fill("zzzz-no-such-thing")
    await search_box.press("Enter")
    await expect(page.locator("#empty")).to_contain_text("Nothing matches")
    await shots(page, "empty")
    await page.goto(fake_backend.url + "/?q=gnu%20licenses")  # a search shared as a link
    await expect(page.locator("#results tbody tr")).to_have_count(2)
    await expect(search_box).to_have_value("gnu licenses")
    await page.locator("#filters summary").click()
    await page.get_by_label("Min size").fill("lots")
    await page.get_by_label("Min size").press("Enter")
    await expect(page.get_by_label("Min size")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#size_min-error")).to_have_text("Use a size like 700 MB or 1.5 GiB")
    await shots(page, "invalid-filter")
    await page.get_by_label("Min size").fill("1 GB")
    await search_box.fill("debian")
    await search_box.press("Enter")
    rows = page.locator("#results tbody tr")
    await expect(rows).to_have_count(1)  # only the 3.3 GB live image is over 1 GB
    await shots(page, "size-filter")
    # Keyboard only: Tab from the search box reaches the result's buttons; Enter works.
    await search_box.focus()
    for _ in range(20):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement.dataset.action") == "similar":
            break
    else:
        raise AssertionError("the result's buttons are not reachable with Tab")
    await page.keyboard.press("Enter")
    await expect(page.locator("#results-heading")).to_be_focused()
    await page.get_by_role("button", name="Back to search results").press("Enter")
    await expect(rows).to_have_count(1)
    # The node refuses: the page says why in an alert, and keeps working.
    await page.route(
        "**/api/v1/downloads",
        lambda route: (
            route.fulfill(
                status=409,
                content_type="application/json",
                body=CONFLICT,
            )
            if route.request.method == "POST"
            else route.continue_()
        ),
    )
    await rows.first.get_by_role("button", name="Download", exact=False).click()
    await expect(page.get_by_role("alert")).to_have_text("Download failed: already downloading")
    await shots(page, "error")

    # A file dropped anywhere on the page is compared with known files.
    await page.evaluate(
        """() => {
            const data = new DataTransfer();
            data.items.add(new File(["debian live gnome image"], "notes-debian.txt"));
            document.querySelector("footer").dispatchEvent(
                new DragEvent("drop", {dataTransfer: data, bubbles: true, cancelable: true}));
        }"""
    )
    await expect(page.locator("#results-heading")).to_have_text("Similar to notes-debian.txt")
    await expect(page.locator("#results tbody tr").first).to_contain_text("debian-live")
    await shots(page, "dropped-file")


async def test_token_from_fragment_is_sent(page: Any, tmp_path: Path) -> None:
    token = "browser-token-0123456789"
    services = FakeServices(cards=sample_cards(), download_dir=tmp_path)
    # The node listens beyond loopback, so it needs a token for changes.
    runner, url = await _serve(make_app(services, ApiConfig(host="0.0.0.0", token=token)))
    try:
        await page.goto(f"{url}/#token={token}")
        assert "token" not in page.url  # removed from the address bar
        search_box = page.get_by_role("combobox", name="Search files by name")
        await search_box.fill("gpl")
        await search_box.press("Enter")
        row = page.locator("#results tbody tr", has_text="GPL-3.0.txt")
        await row.get_by_role("button", name="Download GPL-3.0.txt").click()
        await playwright_api.expect(page.locator("#downloads li")).to_have_count(1)
        assert services.requests[-1].infohash is not None
    finally:
        services.close()
        await runner.cleanup()


async def test_a_filter_alone_searches(page: Any, fake_backend: Backend) -> None:
    # Regression: with the search box empty, setting a size or date filter did
    # nothing at all (no request, no status), though the API and the CLI take a range
    # alone ("everything over 1 GB").
    expect = playwright_api.expect
    await page.goto(fake_backend.url + "/")
    await page.locator("#filters summary").click()
    await page.get_by_label("Min size").fill("3 GB")
    await page.get_by_label("Min size").press("Enter")
    rows = page.locator("#results tbody tr")
    await expect(rows).to_have_count(2)  # the live image and the Ubuntu desktop
    await expect(page.get_by_role("status")).to_have_text("2 results")
    await page.get_by_label("Min size").fill("100 GB")
    await page.get_by_label("Min size").press("Enter")
    await expect(page.locator("#empty")).to_have_text(
        "Nothing matches these filters. Try a wider range."
    )
    await page.get_by_role("button", name="Clear filters").click()
    await expect(rows).to_have_count(0)
    await expect(page.locator("#empty")).to_be_hidden()
    await Shots("filters")(page, "filter-alone")


async def test_the_page_says_when_the_node_is_unreachable(page: Any, tmp_path: Path) -> None:
    # The footer said "0 DHT nodes known · 9 files indexed here" for up to 30 s after
    # the node had gone; now the event stream's loss says so at once.
    expect = playwright_api.expect
    services = FakeServices(cards=sample_cards(), download_dir=tmp_path)
    runner, url = await _serve(make_app(services, ApiConfig()))
    try:
        await page.goto(url + "/")
        await expect(page.locator("#stats")).to_contain_text("files indexed here")
    finally:
        services.close()
        await runner.cleanup()  # the node stops
    await expect(page.locator("#stats")).to_have_text("node unreachable")
    search_box = page.get_by_role("combobox", name="Search files by name")
    await search_box.fill("debian")
    await search_box.press("Enter")
    await expect(page.get_by_role("alert")).to_have_text(
        "Search failed: cannot reach the node; is it running?"
    )
    await Shots("unreachable")(page, "search")


async def test_no_similar_button_without_a_content_signature(page: Any, tmp_path: Path) -> None:
    # Regression: in the demo, every Debian catalogue entry (63,664 of them) offered
    # "Similar", which always failed: "no card with a signature for that infohash".
    expect = playwright_api.expect
    listed = Card("bash_5.2.15-2_amd64.deb", 1_500_000, None, peers=0, signature=False)
    shared = Card("bash-completion.tar", 300_000, 1_700_000_000, peers=1)
    services = FakeServices(cards=[listed, shared], download_dir=tmp_path)
    runner, url = await _serve(make_app(services, ApiConfig()))
    try:
        await page.goto(url + "/?q=bash")
        rows = page.locator("#results tbody tr")
        await expect(rows).to_have_count(2)
        row = rows.filter(has_text=listed.name)
        await expect(row.get_by_role("button", name=f"Download {listed.name}")).to_be_visible()
        await expect(row.locator('[data-action="similar"]')).to_have_count(0)
        other = rows.filter(has_text=shared.name)
        await expect(
            other.get_by_role("button", name=f"Find files similar to {shared.name}")
        ).to_be_visible()
    finally:
        services.close()
        await runner.cleanup()


async def test_a_download_whose_peers_went_away_says_so(page: Any, tmp_path: Path) -> None:
    # It said "downloading · 40% of 659.6 MB · 0 B/s · 0 peers" forever.
    expect = playwright_api.expect
    services = FakeServices(cards=sample_cards(), download_dir=tmp_path)
    runner, url = await _serve(make_app(services, ApiConfig()))
    try:
        await page.goto(url + "/?q=netinst")
        row = page.locator("#results tbody tr").first
        await row.get_by_role("button", name="Download", exact=False).click()
        info = page.locator("#downloads li .download-info")
        await expect(info).to_contain_text("downloading · 0% of")
        await expect(info).to_contain_text("1 peer")
        services.lose_peers("1")
        await expect(info).to_contain_text("no peer connected: waiting for one")
        await Shots("stalled")(page, "no-peer")
    finally:
        services.close()
        await runner.cleanup()
