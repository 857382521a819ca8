"""Queueing formulas the simulator is checked against: Erlang B, Erlang C and Erlang A (M/M/n+M)."""

from __future__ import annotations

import math


def erlang_b(servers: int, load: float) -> float:
    """Blocking probability with `servers` trunks offered `load` Erlangs (stable recursion)."""
    b = 1.0
    for k in range(1, servers + 1):
        b = load * b / (k + load * b)
    return b


def erlang_c(servers: int, load: float) -> float:
    """Probability of waiting in M/M/n (load in Erlangs, below `servers`)."""
    if load >= servers:
        return 1.0
    b = erlang_b(servers, load)
    return servers * b / (servers - load * (1 - b))


def erlang_c_service_level(servers: int, load: float, aht_s: float, threshold_s: float) -> float:
    """P(wait <= threshold) in M/M/n."""
    pw = erlang_c(servers, load)
    return 1 - pw * math.exp(-(servers - load) * threshold_s / aht_s)


def erlang_c_asa(servers: int, load: float, aht_s: float) -> float:
    """Average speed of answer in M/M/n."""
    return erlang_c(servers, load) * aht_s / (servers - load)


def erlang_a(servers: int, arrival_rate: float, aht_s: float, patience_s: float, threshold_s: float,
             max_queue: int = 2000) -> dict[str, float]:
    """M/M/n+M (exponential patience): P(wait), P(abandon), service level and occupancy.

    Service level = P(answered within the threshold) over all arrivals; the birth-death chain is
    truncated at `max_queue` waiting callers (its tail mass is negligible for stable cases).
    """
    mu, theta = 1 / aht_s, 1 / patience_s
    weights = [1.0]
    for k in range(1, servers + max_queue + 1):
        death = min(k, servers) * mu + max(k - servers, 0) * theta
        weights.append(weights[-1] * arrival_rate / death)
    total = sum(weights)
    pi = [w / total for w in weights]
    p_wait = sum(pi[servers:])
    # an arrival seeing k >= servers in the system waits with q = k - servers callers ahead;
    # states whose probability is below 1e-15 change nothing and are skipped
    ahead = [q for q in range(max_queue) if pi[servers + q] > 1e-15]
    p_abandon = sum(pi[servers + q] * _abandon_given_ahead(q, servers * mu, theta) for q in ahead)
    answered_in_time = sum(pi[:servers]) + sum(
        pi[servers + q] * _served_within(q, servers * mu, theta, threshold_s) for q in ahead)
    served = 1 - p_abandon
    occupancy = arrival_rate * served * aht_s / servers
    return {"p_wait": p_wait, "p_abandon": p_abandon, "service_level": answered_in_time, "occupancy": occupancy}


def _abandon_given_ahead(ahead: int, service_rate: float, theta: float) -> float:
    """P(a caller with `ahead` callers in front abandons) when each caller abandons at rate theta."""
    p_reach = 1.0
    for i in range(ahead, -1, -1):
        # with i ahead, the queue moves at service_rate + i*theta, the caller leaves at theta
        p_reach *= (service_rate + i * theta) / (service_rate + (i + 1) * theta)
    return 1 - p_reach


def _served_within(ahead: int, service_rate: float, theta: float, t: float, tol: float = 1e-12) -> float:
    """P(served within t) for a caller with `ahead` callers in front (uniformisation of a pure-death chain)."""
    rates = [service_rate + i * theta + theta for i in range(ahead + 1)]  # total leaving rate of state i
    lam = max(rates)
    # state vector over "i ahead" (index i), plus absorbed-served mass
    probs = [0.0] * (ahead + 1)
    probs[ahead] = 1.0
    served_by_step = 0.0
    result = 0.0
    weight = math.exp(-lam * t)
    k = 0
    cumulative = weight
    while True:
        result += weight * served_by_step
        if 1 - cumulative < tol or k > 10_000:
            result += (1 - cumulative) * served_by_step
            break
        new = [0.0] * (ahead + 1)
        for i, p in enumerate(probs):
            if p == 0.0:
                continue
            stay = 1 - rates[i] / lam
            new[i] += p * stay
            if i > 0:
                new[i - 1] += p * (service_rate + i * theta) / lam
            else:
                served_by_step += p * service_rate / lam
        probs = new
        k += 1
        weight *= lam * t / k
        cumulative += weight
    return result
