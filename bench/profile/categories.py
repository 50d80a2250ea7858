"""Share of CPU samples per category for the given pids.

Reads `perf script -F comm,pid,ip,sym,dso` (with call graphs) on stdin; each
sample counts for the category of its innermost frame that matches one (JS
frames are named through V8's perf map, --perf-basic-prof).
Usage: perf script ... | python3 categories.py PID,PID,...
"""
import collections
import re
import sys

CATEGORIES = [
    ('V8 optimising compiler (background)', r'OptimizingCompileDispatcher|compiler::Pipeline'),
    ('garbage collection', r'Scaveng|Marking|MarkCompact|Heap::|Sweeper|GCTracer'),
    ('ECDSA P-256 sign/verify (OpenSSL)', r'ecp_nistz256|ECDSA|ossl_ec|EVP_Digest(Sign|Verify)|bn_|BN_'),
    ('fdatasync (kernel)', r'fdatasync|ext4|jbd2'),
    ('SHA-256', r'sha256_block'),
    ('JSON stringify/parse (V8)', r'JsonStringif|JsonParse'),
    ('pino logging', r'/pino/|sonic-boom'),
    ('log store (src/store)', r'src/store/'),
    ('envelope pipeline (src/envelope)', r'src/envelope/'),
    ('ajv schema validation', r'ajv|validate\d'),
    ('coordination core (src/core)', r'src/core/'),
    ('HTTP server (fastify, node:http, llhttp)', r'fastify|_http_server|find-my-way|avvio|on_headers_complete|llhttp|Parser::'),
    ('HTTP client (undici)', r'undici'),
    ('WebSocket (ws)', r'/ws/lib'),
    ('node glue (src/node)', r'src/node/'),
]
OTHER = 'socket I/O, event loop, kernel, other'


def category(stack):
    for frame in stack:
        for name, rx in CATEGORIES:
            if re.search(rx, frame):
                return name
    return OTHER


def main():
    pids = {int(x) for x in sys.argv[1].split(',')}
    counts = collections.Counter()
    pid, stack = None, []

    def flush():
        if pid in pids and stack:
            counts[category(stack)] += 1

    for line in sys.stdin:
        if not line.strip():
            flush()
            pid, stack = None, []
        elif not line.startswith((' ', '\t')):
            fields = line.split()
            pid = int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else None
            stack = []
        else:
            parts = line.strip().split(None, 1)
            stack.append(parts[-1])
    flush()
    total = sum(counts.values())
    print(f'samples of the node processes: {total}')
    for name, n in counts.most_common():
        print(f'{100 * n / total:5.1f}%  {name}')


if __name__ == '__main__':
    main()
