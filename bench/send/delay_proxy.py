#!/usr/bin/python3
"""A TCP proxy that adds a fixed one-way delay to every byte in both
directions, so a loopback server behaves as if it were RTT_MS away.

    delay_proxy.py LISTEN_PORT TARGET_PORT RTT_MS

Prints "ready" once listening. Only the benchmark's own connections go
through it: nothing else on the machine is slowed (unlike netem on lo)."""
import asyncio
import sys


async def pump(reader, writer, delay):
    loop = asyncio.get_running_loop()
    q = asyncio.Queue()

    async def sender():
        while True:
            due, data = await q.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                try:
                    writer.write_eof()
                except OSError:
                    pass
                return
            writer.write(data)
            await writer.drain()

    task = asyncio.create_task(sender())
    try:
        while True:
            data = await reader.read(65536)
            await q.put((loop.time() + delay, data))
            if not data:
                break
        await task
    except (ConnectionError, OSError):
        task.cancel()


async def main():
    lport, tport, rtt = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    delay = rtt / 2000.0

    async def handle(cr, cw):
        try:
            sr, sw = await asyncio.open_connection("127.0.0.1", tport)
        except OSError:
            cw.close()
            return
        await asyncio.gather(pump(cr, sw, delay), pump(sr, cw, delay),
                             return_exceptions=True)
        for w in (cw, sw):
            w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", lport)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()

asyncio.run(main())
