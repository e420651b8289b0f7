"""The chaos scenario: many clients in groups and private chats send while connections drop at
random and a gateway process is restarted; afterwards every client must hold every message of its
conversations exactly once and in seq order. Used by tests/im/test_chaos.py (scaled down) and by
``bench/im.py --chaos`` (50 clients, 20,000 messages).
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field

from cpaas_sdk.im import ImClient


@dataclass
class ChaosReport:
    clients: int
    messages: int
    drops: int = 0
    restarts: int = 0
    reconnects: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)


async def chaos_run(*, urls: list[str], tokens: dict[str, str], conversations: dict[str, list[str]],
                    private_pairs: list[tuple[str, str]], messages: int, restart, drop_every: float = 0.05,
                    in_flight: int = 4, seed: int = 7) -> ChaosReport:
    """``conversations``: group id → member user ids. ``restart``: a blocking callable that
    restarts one gateway process (run in a thread, mid-way)."""
    rng = random.Random(seed)
    users = sorted(tokens)
    report = ChaosReport(clients=len(users), messages=messages)
    clients = {u: ImClient(urls, tokens[u], keep=True, ack_interval=0.1, max_backoff=0.5) for u in users}
    started = time.monotonic()
    await asyncio.gather(*(c.start(timeout=30) for c in clients.values()))

    # what each user may send into: their groups by id, their private peers by user id
    targets: dict[str, list[tuple[str, str]]] = {u: [] for u in users}
    for gid, members in conversations.items():
        for m in members:
            targets[m].append(("conversation_id", gid))
    for a, b in private_pairs:
        targets[a].append(("to", b))
        targets[b].append(("to", a))
    plan = []
    for i in range(messages):
        sender = rng.choice([u for u in users if targets[u]])
        plan.append((sender, rng.choice(targets[sender]), f"chaos-{i}"))
    per_sender: dict[str, list] = {u: [] for u in users}
    for item in plan:
        per_sender[item[0]].append(item)

    sent: dict[str, dict] = {}
    private_members: dict[str, set[str]] = {}
    done = asyncio.Event()

    async def sender(user: str) -> None:
        sem = asyncio.Semaphore(in_flight)

        async def one(kind: str, target: str, cmid: str) -> None:
            async with sem:
                result = await clients[user].send(**{kind: target}, content={"text": cmid}, client_msg_id=cmid,
                                                   timeout=120)
                sent[cmid] = result
                if kind == "to":
                    private_members[result["conversation_id"]] = {user, target}

        await asyncio.gather(*(one(kind, target, cmid) for _u, (kind, target), cmid in per_sender[user]))

    async def chaos() -> None:
        restarted = False
        while not done.is_set():
            await asyncio.sleep(drop_every)
            await clients[rng.choice(users)].drop()
            report.drops += 1
            if not restarted and len(sent) >= messages // 2:
                restarted = True
                await asyncio.get_running_loop().run_in_executor(None, restart)
                report.restarts += 1

    chaos_task = asyncio.get_running_loop().create_task(chaos())
    try:
        await asyncio.gather(*(sender(u) for u in users))
    finally:
        done.set()
        await chaos_task

    # expected: per conversation, every seq 1..last; members from the acks
    last: dict[str, int] = {}
    for result in sent.values():
        last[result["conversation_id"]] = max(last.get(result["conversation_id"], 0), result["seq"])
    members_of: dict[str, set[str]] = {gid: set(m) for gid, m in conversations.items()}
    members_of.update(private_members)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        behind = [(u, c) for c, last_seq in last.items() for u in members_of.get(c, ())
                  if clients[u].cursors.get(c, 0) < last_seq]
        if not behind:
            break
        await asyncio.sleep(0.1)
    report.seconds = time.monotonic() - started
    report.reconnects = sum(c.connects - 1 for c in clients.values())
    by_id = {}
    for user, client in clients.items():
        for conv, last_seq in last.items():
            if user not in members_of.get(conv, ()):
                continue
            seqs = [m["seq"] for m in client.store.get(conv, [])]
            if seqs != list(range(1, last_seq + 1)):
                dupes = len(seqs) - len(set(seqs))
                report.problems.append(f"{user} {conv}: {len(seqs)} messages, {dupes} duplicates, "
                                       f"in order={seqs == sorted(seqs)}, expected 1..{last_seq}")
            for m in client.store.get(conv, []):
                if by_id.setdefault((conv, m["seq"]), m["id"]) != m["id"]:
                    report.problems.append(f"{conv} seq {m['seq']} is two different messages")
    if len(sent) != messages:
        report.problems.append(f"{messages - len(sent)} sends never acknowledged")
    if len({(r['conversation_id'], r['seq']) for r in sent.values()}) != messages:
        report.problems.append("two client_msg_ids share a seq")
    await asyncio.gather(*(c.close() for c in clients.values()))
    return report
