"""A small order-pricing module: the bundled example that `cwm-debug trace` runs."""


def apply_discount(price, percent):
    if percent <= 0:
        return price
    return round(price * (100 - percent) / 100, 2)


def order_total(items, discounts):
    total = 0
    lines = []
    for name, qty, price in items:
        cost = apply_discount(qty * price, discounts.get(name, 0))
        lines.append(f"{name} x{qty}: {cost}")
        total += cost
    print("\n".join(lines))
    return round(total, 2)


def checkout():  # << START_OF_TRACE
    cart = [("apple", 3, 0.5), ("pear", 2, 1.25), ("fig", 10, 0.3)]
    return order_total(cart, {"pear": 20})


if __name__ == "__main__":
    print(checkout())
