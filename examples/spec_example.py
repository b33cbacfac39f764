def f(a,b):
    y = a
    for i in range(b):
        y += y * i
    return y

def main(): # << START_OF_TRACE
    return f(1,3)
