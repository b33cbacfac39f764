"""Collatz step counts: a loop-and-call program a few thousand steps long, used by the benchmark."""


def collatz_steps(n):
    steps = 0
    while n != 1:
        n = n // 2 if n % 2 == 0 else 3 * n + 1
        steps += 1
    return steps


def longest_chain(limit=30):  # << START_OF_TRACE
    longest = 0
    best = 1
    for start in range(1, limit):
        steps = collatz_steps(start)
        if steps > longest:
            longest, best = steps, start
    return best, longest
