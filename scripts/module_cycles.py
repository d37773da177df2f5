#!/usr/bin/env python3
"""Lists import cycles between sibling modules of each crate in the workspace.

For every `.rs` file it takes each `crate::a::b` and `super::x` path (in `use`
lines and inline, comments left out, `{...}` groups expanded one level),
resolves it to the longest known module, and adds an edge between the two
siblings under the nearest common parent (`push::hub` -> `push::fanout`).
A strongly connected component of more than one sibling is a cycle.
Usage: scripts/module_cycles.py [crate src dirs...]; exit 1 when a cycle exists.
"""
import os, re, sys
from collections import defaultdict

def modules(src):
    """Module path (tuple) of each file under src, honouring #[path] only for *_tests.rs beside a module."""
    out = {}
    for dirpath, _, files in os.walk(src):
        for f in files:
            if not f.endswith('.rs'):
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), src)[:-3].split(os.sep)
            if rel[-1] in ('lib', 'main', 'mod'):
                rel = rel[:-1]
            out[os.path.join(dirpath, f)] = tuple(rel)
    return out

def expand(path):
    m = re.match(r'^(.*?)::\{(.*)\}$', path)
    if not m:
        return [path]
    head, inner = m.groups()
    parts, depth, cur = [], 0, ''
    for c in inner:
        if c == ',' and depth == 0:
            parts.append(cur); cur = ''
            continue
        depth += c == '{'; depth -= c == '}'
        cur += c
    parts.append(cur)
    return [head + '::' + p.strip() for p in parts if p.strip()]

def main(srcs):
    found = False
    for src in srcs:
        mods = modules(src)
        known = set(mods.values())
        edges = defaultdict(set)
        for path, me in mods.items():
            # A `foo_tests.rs` included with #[path] from foo.rs is part of foo.
            if me and me[-1].endswith('_tests') and me[:-1] + (me[-1][:-6],) in known:
                me = me[:-1] + (me[-1][:-6],)
            text = '\n'.join(l for l in open(path, encoding='utf-8') if not l.lstrip().startswith('//'))
            here = me if os.path.basename(path) in ('mod.rs', 'lib.rs', 'main.rs') else me
            for m in re.finditer(r'\b((?:crate|super)(?:::(?:\{[^;]*?\}|\w+))+)', text):
                for p in expand(m.group(1)):
                    segs = [s for s in re.split(r'::', p) if s]
                    if segs[0] == 'crate':
                        base, rest = (), segs[1:]
                    else:
                        base, rest = me, segs
                        while rest and rest[0] == 'super':
                            base, rest = base[:-1], rest[1:]
                    target = base
                    for s in rest:
                        s = re.sub(r'\W.*', '', s)
                        if base + (s,) in known or (target + (s,)) in known:
                            target = target + (s,)
                        else:
                            break
                    # nearest common parent, then the two children under it
                    i = 0
                    while i < min(len(me), len(target)) and me[i] == target[i]:
                        i += 1
                    if i < len(me) and i < len(target):
                        edges[(me[:i], me[i])].add(target[i])
        by_parent = defaultdict(dict)
        for (parent, a), bs in edges.items():
            by_parent[parent][a] = bs
        for parent, graph in sorted(by_parent.items()):
            for comp in sccs(graph):
                if len(comp) > 1:
                    found = True
                    print(f"{src}: cycle under {'::'.join(parent) or 'crate'}: {' <-> '.join(sorted(comp))}")
    if not found:
        print("no import cycle between sibling modules")
    return 1 if found else 0

def sccs(graph):
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]
    def visit(v):
        index[v] = low[v] = n[0]; n[0] += 1; stack.append(v); on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w); low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v: break
            out.append(comp)
    nodes = set(graph) | {w for ws in graph.values() for w in ws}
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out

if __name__ == '__main__':
    sys.exit(main(sys.argv[1:] or ['companion/src', 'cloud/src', 'cloud/protocol/src', 'syncthing-fixtures/src']))
