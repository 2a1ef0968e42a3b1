<?php
// What a Redis session cycle costs by its commands alone, with no session module and no handler
// around them: a plain PHP socket sends cannon's own commands for each mode, in a loop, to the
// benchmark's private redis-server. Set beside the round-trip floor, it shows how much of a
// cycle is the protocol's (the commands, their replies, the sends) and how much the handler's.
// The loops are interleaved in short blocks, so drift falls on every shape alike; medians.

declare(strict_types=1);

/** One command in RESP. */
function resp_cmd(string ...$args): string
{
    $o = '*' . count($args) . "\r\n";
    foreach ($args as $a) {
        $o .= '$' . strlen($a) . "\r\n" . $a . "\r\n";
    }
    return $o;
}

/** Reads one reply (status, error, integer or bulk string: what these shapes get). */
function resp_read($s): ?string
{
    $line = fgets($s);
    if ($line === false) {
        throw new RuntimeException('redis_shapes: connection lost');
    }
    if ($line[0] === '-') {
        throw new RuntimeException('redis_shapes: ' . trim($line));
    }
    if ($line[0] !== '$') {
        return substr($line, 1, -2);
    }
    $n = (int) substr($line, 1);
    if ($n < 0) {
        return null;
    }
    $data = '';
    while (strlen($data) < $n + 2) {
        $chunk = fread($s, $n + 2 - strlen($data));
        if ($chunk === false || $chunk === '') {
            throw new RuntimeException('redis_shapes: connection lost');
        }
        $data .= $chunk;
    }
    return substr($data, 0, $n);
}

/**
 * µs per cycle for each of cannon's Redis cycles, as its commands alone (null when the server
 * cannot be reached), keyed 'write_locked', 'write_unlocked', 'read_locked', 'read_unlocked':
 *   write, locked:   SET lock NX PX GET + GETEX (one round trip), then SET data EX + DEL lock (one)
 *   write, lock=0:   GETEX, then SET data EX (two round trips)
 *   read, locked:    SET lock NX PX GET + GETEX (one round trip), then DEL lock sent without
 *                    waiting: its reply is read with the next cycle's (as cannon does)
 *   read, lock=0:    GETEX (one round trip)
 */
function redis_shapes(string $host, int $port, int $payload = 1024, int $blocks = 15, int $perBlock = 500): array
{
    $none = array_fill_keys(['write_locked', 'write_unlocked', 'read_locked', 'read_unlocked'], null);
    $ctx = stream_context_create(['socket' => ['tcp_nodelay' => true]]);
    $s = @stream_socket_client("tcp://$host:$port", $errno, $errstr, 2.0, STREAM_CLIENT_CONNECT, $ctx);
    if ($s === false) {
        return $none;
    }
    stream_set_timeout($s, 2);
    try {
        $keys = [];
        $data = str_repeat('x', $payload);
        for ($i = 0; $i < 1000; $i++) {
            $keys[] = sprintf('shape:%026d', $i);
            fwrite($s, resp_cmd('SET', $keys[$i], $data, 'EX', '1440'));
            resp_read($s);
        }
        $token = bin2hex(random_bytes(16));
        $owed = 0; // replies of DELs sent without waiting
        $lockRead = function (string $key) use ($s, $token, &$owed): void {
            fwrite($s, resp_cmd('SET', "$key:lock", $token, 'NX', 'PX', '30000', 'GET') . resp_cmd('GETEX', $key, 'EX', '1440'));
            for (; $owed > 0; $owed--) {
                resp_read($s);
            }
            resp_read($s);
            resp_read($s);
        };
        $shapes = [
            'write_locked' => function (string $key, string $d) use ($s, $lockRead): void {
                $lockRead($key);
                fwrite($s, resp_cmd('SET', $key, $d, 'EX', '1440') . resp_cmd('DEL', "$key:lock"));
                resp_read($s);
                resp_read($s);
            },
            'write_unlocked' => function (string $key, string $d) use ($s): void {
                fwrite($s, resp_cmd('GETEX', $key, 'EX', '1440'));
                resp_read($s);
                fwrite($s, resp_cmd('SET', $key, $d, 'EX', '1440'));
                resp_read($s);
            },
            'read_locked' => function (string $key, string $d) use ($s, $lockRead, &$owed): void {
                $lockRead($key);
                fwrite($s, resp_cmd('DEL', "$key:lock"));
                $owed++;
            },
            'read_unlocked' => function (string $key, string $d) use ($s): void {
                fwrite($s, resp_cmd('GETEX', $key, 'EX', '1440'));
                resp_read($s);
            },
        ];
        $payloads = [$data, str_repeat('y', $payload)];
        return time_interleaved(
            array_map(fn ($cycle) => fn (int $k) => $cycle($keys[$k % 1000], $payloads[$k & 1]), $shapes),
            $blocks,
            $perBlock,
            // The last release's reply belongs to its shape's time.
            function () use ($s, &$owed): void {
                for (; $owed > 0; $owed--) {
                    resp_read($s);
                }
            },
        );
    } catch (\Throwable $e) {
        return $none;
    } finally {
        fclose($s);
    }
}
