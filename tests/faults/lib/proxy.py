#!/usr/bin/env python3
"""A small TCP proxy that misbehaves on purpose, for the fault scripts.

Modes (--mode):
  blackhole  accept connections, read and discard everything, never answer (no upstream needed)
  delay      forward both ways; hold every burst of upstream bytes for --delay seconds first
  cut        forward both ways; after --cut-after bytes from upstream on one connection, close
             it (mid-reply when the reply is larger than that); --rst closes with a TCP reset
  pass       forward both ways unchanged

Prints "listening PORT" on stdout once it accepts connections, and one line per connection.
Runs until killed.
"""
import argparse
import socket
import struct
import sys
import threading
import time


def log(msg):
    print(msg, flush=True)


def close_quietly(*socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


def reset(sock):
    # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass


def pump_up(client, upstream):
    """client -> upstream, unchanged."""
    try:
        while True:
            data = client.recv(65536)
            if not data:
                break
            upstream.sendall(data)
    except OSError:
        pass
    finally:
        try:
            upstream.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def pump_down(upstream, client, args, n, up_thread):
    """upstream -> client, with the configured misbehaviour."""
    sent = 0
    try:
        while True:
            data = upstream.recv(65536)
            if not data:
                break
            if args.mode == "delay":
                time.sleep(args.delay)
                # The rest of the same reply, if it arrived meanwhile, goes out with it.
                upstream.setblocking(False)
                try:
                    while True:
                        more = upstream.recv(65536)
                        if not more:
                            break
                        data += more
                except (BlockingIOError, InterruptedError):
                    pass
                finally:
                    upstream.setblocking(True)
            if args.mode == "cut" and sent + len(data) >= args.cut_after:
                keep = args.cut_after - sent
                if keep > 0:
                    client.sendall(data[:keep])
                log(f"conn {n}: cut after {args.cut_after} bytes ({'RST' if args.rst else 'FIN'})")
                # close() alone sends nothing while pump_up still blocks in recv() on the same
                # socket: wake it first (SHUT_RD), let it finish, then close for real.
                try:
                    client.shutdown(socket.SHUT_RD)
                except OSError:
                    pass
                up_thread.join(2)
                if args.rst:
                    reset(client)
                else:
                    try:
                        client.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                break
            client.sendall(data)
            sent += len(data)
    except OSError:
        pass
    finally:
        close_quietly(client, upstream)


def blackhole(client, n):
    try:
        while client.recv(65536):
            pass
    except OSError:
        pass
    finally:
        close_quietly(client)
        log(f"conn {n}: closed by client")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["blackhole", "delay", "cut", "pass"], required=True)
    ap.add_argument("--listen", type=int, required=True)
    ap.add_argument("--upstream", type=int, default=0)
    ap.add_argument("--delay", type=float, default=0.2)
    ap.add_argument("--cut-after", type=int, default=1024)
    ap.add_argument("--rst", action="store_true")
    args = ap.parse_args()

    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", args.listen))
    srv.listen(128)
    log(f"listening {args.listen}")
    n = 0
    while True:
        client, _ = srv.accept()
        n += 1
        log(f"conn {n}: accepted")
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if args.mode == "blackhole":
            threading.Thread(target=blackhole, args=(client, n), daemon=True).start()
            continue
        try:
            upstream = socket.create_connection(("127.0.0.1", args.upstream), timeout=5)
            upstream.settimeout(None)
            upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as e:
            log(f"conn {n}: upstream failed: {e}")
            close_quietly(client)
            continue
        up = threading.Thread(target=pump_up, args=(client, upstream), daemon=True)
        up.start()
        threading.Thread(target=pump_down, args=(upstream, client, args, n, up), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
