"""Download rate over loopback: swarmseek's ``get`` next to libtorrent's downloader.

    python tests/benchmarks/bench_download.py [--size-mib 1024] [--seeders 1] [--encrypted]
        [--rounds N] [--baseline DIR]

Both downloaders fetch the same torrent from the same libtorrent seeders in the same
run; each runs as its own process so its wall time and peak memory (VmHWM) are its own.
With ``--rounds N`` each downloads N times from the same seeders, the order rotating
each round; ``--baseline DIR`` adds a third downloader, the swarmseek package in DIR
(for before/after figures under the same load).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pathlib
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import libtorrent as lt

HERE = pathlib.Path(__file__).resolve()
# (seconds, peak RSS bytes, CPU seconds, system part, context switches voluntary, involuntary)
Measured = tuple[float, int, float, float, int, int]
QUIET = {
    "enable_lsd": False,
    "enable_upnp": False,
    "enable_natpmp": False,
    "enable_dht": False,
    "dht_bootstrap_nodes": "",
    "allow_multiple_connections_per_ip": True,
    # TCP only, as swarmseek: libtorrent dials uTP first by default, and its uTP moves
    # about 10 MB/s over loopback here, which would compare transports, not clients.
    "enable_outgoing_utp": False,
    "enable_incoming_utp": False,
    "alert_mask": lt.alert_category.status | lt.alert_category.error,
}
FORCED = {
    "out_enc_policy": lt.enc_policy.forced,
    "in_enc_policy": lt.enc_policy.forced,
    "allowed_enc_level": lt.enc_level.rc4,
}


def _settings(encrypted: bool) -> dict[str, object]:
    settings = dict(QUIET, listen_interfaces="127.0.0.1:0")
    if encrypted:
        settings.update(FORCED)
    return settings


def make_data(folder: pathlib.Path, size: int) -> tuple[pathlib.Path, pathlib.Path]:
    data = folder / "seed" / "payload.bin"
    data.parent.mkdir(parents=True)
    with data.open("wb") as out:
        remaining = size
        while remaining:
            chunk = os.urandom(min(remaining, 64 << 20))
            out.write(chunk)
            remaining -= len(chunk)
    storage = lt.file_storage()
    lt.add_files(storage, str(data))
    torrent = lt.create_torrent(storage, 1 << 20)
    lt.set_piece_hashes(torrent, str(data.parent))
    path = folder / "payload.torrent"
    path.write_bytes(lt.bencode(torrent.generate()))
    return data, path


def seeder(torrent: str, save_path: str, encrypted: bool) -> None:
    session = lt.session(_settings(encrypted))
    # A full check before serving, not seed_mode: in seed_mode libtorrent hashes each
    # piece the first time a peer asks for it, so the seeders would hash the whole
    # payload while serving the first downloader and not the second (CPU taken from
    # whichever downloader runs first, on a machine where every core is busy).
    handle = session.add_torrent({"ti": lt.torrent_info(torrent), "save_path": save_path})
    while not handle.status().is_seeding:
        session.wait_for_alert(1000)
        for alert in session.pop_alerts():
            if isinstance(alert, lt.torrent_error_alert):
                raise SystemExit(f"seeder: {alert.message()}")
    print(session.listen_port(), flush=True)
    sys.stdin.read()  # until the benchmark closes our stdin


def lt_downloader(torrent: str, save_path: str, peers: list[int], encrypted: bool) -> None:
    session = lt.session(_settings(encrypted))
    handle = session.add_torrent({"ti": lt.torrent_info(torrent), "save_path": save_path})
    for port in peers:
        handle.connect_peer(("127.0.0.1", port))
    while True:
        session.wait_for_alert(1000)
        for alert in session.pop_alerts():
            if isinstance(alert, lt.torrent_finished_alert):
                return
            if isinstance(alert, lt.torrent_error_alert):
                raise SystemExit(f"libtorrent error: {alert.message()}")


def _hwm(pid: int) -> int:
    """VmHWM of ``pid`` in bytes (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run_measured(command: list[str], env: dict[str, str] | None = None) -> Measured:
    """Run ``command``; return (seconds, peak RSS in bytes, CPU seconds, system part,
    voluntary and involuntary context switches).

    The peak is the child's own VmHWM, polled until it exits: wait4's ru_maxrss is
    not usable here because Linux carries the forking parent's high-water mark (this
    benchmark holds hundreds of MB while it generates the data) into the child. CPU
    seconds (user + system) do come from wait4: they are the child's own.
    """
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env)
    peak = 0
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        peak = max(peak, _hwm(process.pid))
        time.sleep(0.02)
    elapsed = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    process.returncode = code
    if code != 0:
        raise SystemExit(f"{command[:3]} failed with status {code}")
    cpu = usage.ru_utime + usage.ru_stime
    return elapsed, peak, cpu, usage.ru_stime, usage.ru_nvcsw, usage.ru_nivcsw


def process_cpu(pids: list[int]) -> float:
    """CPU seconds (user + system) used so far by the live processes ``pids``."""
    ticks = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                # After the ")" that ends the command name: fields 3 on; utime and
                # stime are fields 14 and 15 (proc(5)).
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def recycle_pages(folder: pathlib.Path, size: int) -> None:
    """Write ``size`` bytes to a scratch file and delete it.

    On this VM a page the guest never touched costs about 2 s of system time per GiB
    when first written (measured: 2.7 s against 0.7-0.9 s for pages freed just
    before). Without this, whichever downloader runs second writes into the pages of
    the first one's deleted download and looks cheaper. Done before each downloader.
    """
    scratch = folder / "scratch.bin"
    chunk = bytes(16 << 20)
    with scratch.open("wb") as out:
        for _ in range(0, size, len(chunk)):
            out.write(chunk)
    scratch.unlink()


def sha1_file(path: pathlib.Path) -> str:
    digest = hashlib.sha1()
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def start_seeders(
    args: argparse.Namespace, torrent: pathlib.Path, save: pathlib.Path
) -> tuple[list[subprocess.Popen[str]], list[int]]:
    """``args.seeders`` seeder processes (libtorrent, or ``swarmseek seed``) and their
    ports, once each serves the whole torrent."""
    if args.seeder == "libtorrent":
        enc = ["--encrypted"] if args.encrypted else []
        command = [sys.executable, str(HERE), "--role", "seeder", "--torrent", str(torrent)]
        command += ["--save", str(save), *enc]
    else:
        # Plaintext means plaintext here: under ``prefer`` our seeder selects RC4
        # whenever the downloader offers it (ours does).
        policy = "require" if args.encrypted else "disable"
        command = [sys.executable, "-m", "swarmseek.api.cli", "seed", str(torrent)]
        command += ["--data", str(save), "--bind", "127.0.0.1", "--encryption", policy]
    seeders = [
        subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(args.seeders)
    ]
    ports = []
    for process in seeders:
        assert process.stdout is not None
        if args.seeder == "libtorrent":
            ports.append(int(process.stdout.readline()))
            continue
        # "listening on HOST:PORT", then "seeding NAME: ..." once the data is checked.
        ports.append(int(process.stdout.readline().rsplit(":", 1)[1]))
        if not process.stdout.readline().startswith("seeding"):
            raise SystemExit("swarmseek seed did not start seeding")
    return seeders, ports


def stop_seeders(seeders: list[subprocess.Popen[str]], kind: str) -> None:
    for process in seeders:
        assert process.stdin is not None
        process.stdin.close()  # libtorrent's seeder role ends with its stdin
        if kind == "swarmseek":
            process.send_signal(signal.SIGINT)  # ``swarmseek seed`` runs until interrupted
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _commands(
    args: argparse.Namespace, folder: pathlib.Path, torrent: pathlib.Path, ports: list[int]
) -> dict[str, tuple[list[str], dict[str, str]]]:
    """Each downloader's command line and environment."""
    enc = ["--encrypted"] if args.encrypted else []
    ours = [
        sys.executable,
        "-m",
        "swarmseek.api.cli",
        "get",
        str(torrent),
        *[a for p in ports for a in ("--peer", f"127.0.0.1:{p}")],
        *(["--encryption", "require"] if args.encrypted else []),
        # Our own seeder refuses MSE in a plaintext run (see start_seeders): no attempt.
        *(
            ["--encryption", "disable"]
            if not args.encrypted and args.seeder != "libtorrent"
            else []
        ),
    ]
    env = dict(os.environ)
    commands = {
        "libtorrent": (
            [
                sys.executable,
                str(HERE),
                "--role",
                "lt",
                "--torrent",
                str(torrent),
                "--peers",
                ",".join(map(str, ports)),
                "--save",
                str(folder / "libtorrent"),
                *enc,
            ],
            env,
        ),
        "swarmseek": ([*args.wrap.split(), *ours, "--out", str(folder / "swarmseek")], env),
    }
    if args.baseline:
        # Another swarmseek source tree (a folder holding ``swarmseek/``) in the same
        # run: before/after figures on the same seeders and the same load.
        path = os.pathsep.join([args.baseline, env.get("PYTHONPATH", "")])
        commands["baseline"] = (
            [*ours, "--out", str(folder / "baseline")],
            dict(env, PYTHONPATH=path),
        )
    return commands


# Byte-compiles the swarmseek found on the child's path, as ``pip install`` does for a
# regular install. This machine sets PYTHONDONTWRITEBYTECODE=1, so an editable install
# never gets .pyc files and each ``get`` compiled its ~50 modules from source first
# (about 0.1 s of CPU, measured); libtorrent's downloader is a compiled extension.
# All four packages: the CLI's parser loads swarmseek.discovery too (for ``dht``), and
# with only api and transfer compiled each ``get`` still compiled 17 discovery modules
# (about 0.04 s of CPU, measured).
_COMPILE = """
import compileall, importlib
for name in ("swarmseek.api", "swarmseek.transfer", "swarmseek.discovery", "swarmseek.index"):
    for path in importlib.import_module(name).__path__:
        compileall.compile_dir(path, quiet=1)
"""


def byte_compile(env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-c", _COMPILE], env=env, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--seeders", type=int, default=1)
    parser.add_argument("--encrypted", action="store_true", help="force RC4 on both sides")
    parser.add_argument(
        "--seeder",
        choices=["libtorrent", "swarmseek"],
        default="libtorrent",
        help="who seeds (both downloaders fetch from the same seeders)",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="downloads of each client (order rotates per round)"
    )
    parser.add_argument(
        "--baseline", metavar="DIR", help="also run the swarmseek package found in DIR"
    )
    parser.add_argument(
        "--wrap", default="", help="prefix for our command (a profiler: 'py-spy record -o F --')"
    )
    parser.add_argument("--role", choices=["bench", "seeder", "lt"], default="bench")
    parser.add_argument("--torrent")
    parser.add_argument("--save")
    parser.add_argument("--peers", default="")
    args = parser.parse_args()
    if args.role == "seeder":
        seeder(args.torrent, args.save, args.encrypted)
        return
    if args.role == "lt":
        lt_downloader(
            args.torrent, args.save, [int(p) for p in args.peers.split(",")], args.encrypted
        )
        return

    size = args.size_mib << 20
    print(
        f"cores: {os.cpu_count()}  size: {args.size_mib} MiB  "
        f"seeders: {args.seeders} ({args.seeder})  "
        f"encrypted: {args.encrypted}",
        flush=True,
    )
    rounds: list[dict[str, Measured]] = []
    with tempfile.TemporaryDirectory(prefix="swarmseek-bench-") as tmp:
        folder = pathlib.Path(tmp)
        data, torrent = make_data(folder, size)
        expected = sha1_file(data)  # also warms the page cache for the seeders
        seeders, ports = start_seeders(args, torrent, data.parent)
        commands = _commands(args, folder, torrent, ports)
        for name, (_, env) in commands.items():
            if name != "libtorrent":
                byte_compile(env)
        names = list(commands)
        for index in range(args.rounds):
            # Rotate who goes first: a downloader must not gain from its place.
            order = names[index % len(names) :] + names[: index % len(names)]
            results: dict[str, Measured] = {}
            for name in order:
                command, env = commands[name]
                recycle_pages(folder, size)
                load = os.getloadavg()[0]
                seeders_before = process_cpu([s.pid for s in seeders])
                results[name] = run_measured(command, env)
                seeders_cpu = process_cpu([s.pid for s in seeders]) - seeders_before
                got = folder / name / data.name
                if sha1_file(got) != expected:
                    raise SystemExit(f"{name} downloaded different bytes")
                shutil.rmtree(got.parent)
                print(_line(name, size, results[name], load), flush=True)
                # The seeders are libtorrent for every downloader; their CPU while it
                # ran is what serving it cost (RC4 on their side when encrypted).
                print(f"{'':>10}  seeders' CPU meanwhile {seeders_cpu:6.2f} s", flush=True)
            print(_ratios(results), flush=True)
            rounds.append(results)
        stop_seeders(seeders, args.seeder)
    if len(rounds) > 1:
        _summary(rounds)


def _line(name: str, size: int, result: Measured, load: float) -> str:
    seconds, rss, cpu, system, voluntary, involuntary = result
    return (
        f"{name:>10}: {size / seconds / 1e6:8.1f} MB/s  {seconds:6.2f} s  "
        f"CPU {cpu:6.2f} s (system {system:5.2f})  peak memory {rss / 1e6:6.1f} MB  "
        f"switches {voluntary}+{involuntary}  load {load:.1f}"
    )


def _ratios(results: dict[str, Measured]) -> str:
    ref = results["libtorrent"]
    lines = []
    for name in ("swarmseek", "baseline"):
        if name in results:
            ours = results[name]
            lines.append(
                f"     ratio: {name} {ref[0] / ours[0]:.2f}x libtorrent's rate, "
                f"{ours[2] / ref[2]:.2f}x its CPU, {ours[1] / ref[1]:.2f}x its memory"
            )
    return "\n".join(lines)


def _summary(rounds: list[dict[str, Measured]]) -> None:
    for name in ("swarmseek", "baseline"):
        if name not in rounds[0]:
            continue
        rates = sorted(r["libtorrent"][0] / r[name][0] for r in rounds)
        cpus = sorted(r[name][2] / r["libtorrent"][2] for r in rounds)
        print(
            f"   summary: {name} rate vs libtorrent median {statistics.median(rates):.2f}x "
            f"(range {rates[0]:.2f}-{rates[-1]:.2f}, {len(rates)} rounds: "
            f"{', '.join(f'{r:.2f}' for r in rates)}), CPU median {statistics.median(cpus):.2f}x"
        )


if __name__ == "__main__":
    main()
