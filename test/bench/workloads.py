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


class Particle:
    """A user object without __repr__ (shown as <Particle object>): its attributes are what object state records."""

    def __init__(self, x, v):
        self.x = x
        self.v = v
        self.hits = 0
        self.trail = []

    def step(self, dt):
        self.x += self.v * dt
        if self.x < 0 or self.x > 100:
            self.v = -self.v
            self.hits += 1
        if len(self.trail) < 5:
            self.trail.append(self.x)
        return self.x


class Box:
    def __init__(self, particles):
        self.particles = particles
        self.ticks = 0
        self.energy = 0.0

    def tick(self, dt):
        self.ticks += 1
        total = 0.0
        for p in self.particles:
            total += p.step(dt)
        self.energy = total
        return total


def object_heavy(n):
    """Methods on user objects (self with a few attributes, a nested list of objects): what object state costs most on."""
    box = Box([Particle(i * 10.0, 1.5 + i) for i in range(4)])
    for _ in range(n // 4):
        box.tick(0.5)
    return box.ticks, box.energy
