"""A steady mixed load through the gateway, as a province's users make it while things break:
imports, member edits, cash payments, transfers, remittances up the tree, activity sign-ups.
Every answer is recorded (time, action, status, code) so that each fault's window can be read
back: how many 503s, and whether any 5xx other than 503 ever came."""

from __future__ import annotations

import itertools
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from members.fakes import as_csv, people

UNREACHABLE = 0  # no answer at all: the gateway itself was down (a load balancer's 503)


@dataclass(frozen=True)
class Answer:
    at: float
    action: str
    status: int
    code: str | None


@dataclass
class World:
    """What the load works on, made once by the suite's set-up."""

    gateway_url: str
    admin_token: str
    root: str
    city: str
    counties: dict[str, str]  # branch id → its county
    month: str  # the cycle's month: bills to pay, money to remit
    bills: list[str]  # the month's bill ids, due at first
    branch_of: dict[str, str]  # member id → branch, as the load last knew it
    member_logins: list[tuple[str, str]]  # activated members (username, password): sign-ups
    activity: str
    lock: threading.Lock = field(default_factory=threading.Lock)


class Load:
    def __init__(self, world: World, workers: int = 3) -> None:
        self.world = world
        self.answers: list[Answer] = []
        self._lock = threading.Lock()
        self._go = threading.Event()
        self._stop = threading.Event()
        self._busy = [threading.Event() for _ in range(workers)]
        self._seeds = itertools.count(10_000)
        self._threads = [
            threading.Thread(target=self._work, args=(i,), daemon=True, name=f"load-{i}")
            for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    # --- control ------------------------------------------------------------------------------

    def resume(self) -> None:
        self._go.set()

    def pause(self, within: float = 120.0) -> None:
        """Let every worker finish its action and wait: the invariants are read at rest."""
        self._go.clear()
        deadline = time.monotonic() + within
        while any(b.is_set() for b in self._busy):
            assert time.monotonic() < deadline, "the load did not come to rest"
            time.sleep(0.05)

    def stop(self) -> None:
        self._stop.set()
        self._go.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def since(self, start: float) -> list[Answer]:
        with self._lock:
            return [a for a in self.answers if a.at >= start]

    @staticmethod
    def tally(answers: list[Answer]) -> Counter[int]:
        return Counter(a.status for a in answers)

    # --- the workers --------------------------------------------------------------------------

    def _work(self, index: int) -> None:
        rng = random.Random(index)
        admin = self._client(self.world.admin_token)
        actions: list[Callable[[httpx.Client, random.Random], None]] = [
            self._import,
            self._edit,
            self._pay,
            self._transfer,
            self._edit,
            self._pay,
            self._remit,
            self._sign_up,
        ]
        for step in itertools.count(index):
            self._go.wait()
            if self._stop.is_set():
                return
            self._busy[index].set()
            try:
                actions[step % len(actions)](admin, rng)
            except httpx.TransportError:
                pass  # recorded by _call; the next action goes on
            finally:
                self._busy[index].clear()
            time.sleep(0.02)

    def _client(self, token: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(
            base_url=f"{self.world.gateway_url}/api/v1", headers=headers, timeout=60
        )

    def _call(
        self, client: httpx.Client, action: str, method: str, path: str, **kw: Any
    ) -> httpx.Response | None:
        try:
            r = client.request(method, path, **kw)
        except httpx.TransportError:
            self._record(action, UNREACHABLE, None)
            return None
        code = None
        if r.headers.get("content-type", "").startswith("application/problem+json"):
            code = r.json().get("code")
        self._record(action, r.status_code, code)
        return r

    def _record(self, action: str, status: int, code: str | None) -> None:
        with self._lock:
            self.answers.append(Answer(time.monotonic(), action, status, code))

    def _members(self, rng: random.Random, n: int = 1) -> list[tuple[str, str]]:
        with self.world.lock:
            known = list(self.world.branch_of.items())
        return rng.sample(known, min(n, len(known)))

    # --- the actions --------------------------------------------------------------------------

    def _import(self, admin: httpx.Client, rng: random.Random) -> None:
        branch = rng.choice(list(self.world.counties))
        sheet = as_csv(list(people(3, random.Random(next(self._seeds)))))
        r = self._call(
            admin,
            "import",
            "POST",
            f"/orgs/{branch}/members/import",
            files={"file": ("团员.csv", sheet)},
        )
        if r is not None and r.status_code == 200:
            with self.world.lock:
                for member in r.json()["members"]:
                    self.world.branch_of[member["id"]] = branch

    def _edit(self, admin: httpx.Client, rng: random.Random) -> None:
        for member, _ in self._members(rng):
            self._call(
                admin,
                "edit",
                "PATCH",
                f"/members/{member}",
                json={"employer": f"某某单位{rng.randrange(1000)}"},
            )

    def _pay(self, admin: httpx.Client, rng: random.Random) -> None:
        bill = rng.choice(self.world.bills)
        self._call(admin, "pay", "POST", f"/bills/{bill}/payments", json={"channel": "cash"})

    def _transfer(self, admin: httpx.Client, rng: random.Random) -> None:
        for member, branch in self._members(rng):
            to = next(b for b in self.world.counties if b != branch)
            asked = self._call(
                admin,
                "transfer",
                "POST",
                "/transfers",
                json={"member_id": member, "to_org_id": to, "reason": "employment"},
            )
            if asked is None or asked.status_code != 201:
                continue
            transfer = asked.json()["id"]
            for _ in range(2):  # out of the old county, into the new one
                step = self._call(admin, "transfer", "POST", f"/transfers/{transfer}/approve")
                if step is None or step.status_code != 200:
                    return  # left open; it holds the member where it is
                if step.json()["status"] == "completed":
                    with self.world.lock:
                        self.world.branch_of[member] = to

    def _remit(self, admin: httpx.Client, rng: random.Random) -> None:
        branch = rng.choice(list(self.world.counties))
        chain = [branch, self.world.counties[branch], self.world.city, self.world.root]
        for sender in chain:
            sent = self._call(
                admin,
                "remit",
                "POST",
                f"/orgs/{sender}/remittances",
                json={"month": self.world.month},
                headers={"Idempotency-Key": str(uuid.uuid4())},
            )
            if sent is not None and sent.status_code == 201 and sent.json()["to_org_id"]:
                self._call(admin, "remit", "POST", f"/remittances/{sent.json()['id']}/receipt")

    def _sign_up(self, _: httpx.Client, rng: random.Random) -> None:
        username, password = rng.choice(self.world.member_logins)
        with self._client(None) as anonymous:
            r = self._call(
                anonymous,
                "sign-up",
                "POST",
                "/auth/login",
                json={"username": username, "password": password},
            )
        if r is None or r.status_code != 200:
            return
        with self._client(r.json()["access_token"]) as member:
            signed = self._call(
                member, "sign-up", "POST", f"/activities/{self.world.activity}/signups"
            )
            if signed is not None and signed.status_code in (201, 409):
                self._call(
                    member, "sign-up", "DELETE", f"/activities/{self.world.activity}/signups/me"
                )
