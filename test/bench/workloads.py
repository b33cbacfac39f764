# Benchmark workloads: loop-heavy, call-heavy, container-heavy and text-processing functions, each taking a size argument.


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


_VOCABULARY = ('the quick brown fox jumps over a lazy dog while seven wizards quietly judge boxing matches '
               'in the old town square and every reader counts the words that follow').split()


def text_heavy(n):
    """Realistic text processing: words normalised, counted in a dict, the longest kept, the top five sorted."""
    words = [_VOCABULARY[i % len(_VOCABULARY)] + ('s' if i % 3 == 0 else '') + str(i % 50) for i in range(n)]
    counts = {}
    longest = ''
    for raw in words:
        word = raw.strip('0123456789').lower()
        if not word:
            continue
        counts[word] = counts.get(word, 0) + 1
        if len(word) > len(longest):
            longest = word
    top = sorted(counts.items(), key=lambda item: -item[1])[:5]
    return top, longest
