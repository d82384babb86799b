"""A tiny Python HTTP server for memtide-check's tests: http.server on a
port the kernel picks, printed once it listens. With --grow, every request
adds an entry to a dict nobody empties: a leak that is reachable, which
LeakSanitizer and valgrind would not report."""
import http.server
import sys

GROW = "--grow" in sys.argv
KEPT = {}


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if GROW:
            KEPT[len(KEPT)] = "x" * 8192
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print(f"listening port={server.server_address[1]}", flush=True)
server.serve_forever()
