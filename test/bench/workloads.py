# Benchmark workloads: a loop-heavy, a call-heavy and a container-heavy function, each taking a size argument.


def loop_heavy(n):
    total = 0
    for i in range(n):
        square = i * i
        if square % 3 == 0:
            total += square
        else:
            total -= 1
    return total


def add(a, b):
    return a + b


def call_heavy(n):
    acc = 0
    for i in range(n):
        acc = add(acc, i)
    return acc


def container_heavy(n):
    seen = []
    counts = {}
    for i in range(n):
        key = i % 7
        counts[key] = counts.get(key, 0) + 1
        if len(seen) < 20:
            seen.append(key)
    return counts


def untraced(name, n):
    return globals()[name](n)
