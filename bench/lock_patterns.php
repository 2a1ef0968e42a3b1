<?php
// Micro-benchmark of Redis command patterns for one locked session cycle (lock + read, then
// write + unlock), without any session machinery: what the server-side scripts cost compared
// with plain pipelined commands, for a given payload size. Used to size the proposals in the
// benchmark report; not part of `make bench`.
//
//   php bench/lock_patterns.php [--port=6379] [--payload=1024] [--cycles=20000]
//
// Patterns (each cycle: round trip 1 = lock + read, round trip 2 = write + unlock):
//   unlocked     GET | SET EX                                      (no lock: the floor)
//   scripts      EVALSHA lock_read | EVALSHA write_unlock          (the payload passes through Lua)
//   pipelined    SET lock NX PX + GET lock + GET data | SET tmp EX + EVALSHA commit (RENAME tmp)
//                (the payload never enters Lua; the commit script only compares the token)
//   touch        SET lock NX PX + GET lock + GETEX data EX | EVALSHA unlock   (read-only cycle)
// Needs phpredis.

declare(strict_types=1);

$opt = getopt('', ['port:', 'payload:', 'cycles:', 'host:']);
$host = (string) ($opt['host'] ?? '127.0.0.1');
$port = (int) ($opt['port'] ?? 6379);
$size = (int) ($opt['payload'] ?? 1024);
$cycles = (int) ($opt['cycles'] ?? 20000);

$r = new Redis();
$r->connect($host, $port, 2.0);

$lockRead = <<<'LUA'
local cur = redis.call('GET', KEYS[2])
if cur == ARGV[1] or (not cur and redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2])) then
  return {1, redis.call('GET', KEYS[1])}
end
return {0}
LUA;
$writeUnlock = <<<'LUA'
local cur = redis.call('GET', KEYS[2])
if cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  redis.call('DEL', KEYS[2])
  return 1
end
if cur then return 0 end
return -1
LUA;
// KEYS: tmp, data, lock. The data was written to tmp (with its TTL) in the same pipeline.
$commit = <<<'LUA'
if redis.call('GET', KEYS[3]) == ARGV[1] then
  redis.call('RENAME', KEYS[1], KEYS[2])
  redis.call('DEL', KEYS[3])
  return 1
end
redis.call('DEL', KEYS[1])
return 0
LUA;
$unlock = <<<'LUA'
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
LUA;
$sha = [];
foreach (['lockRead' => $lockRead, 'writeUnlock' => $writeUnlock, 'commit' => $commit, 'unlock' => $unlock] as $k => $body) {
    $sha[$k] = $r->script('load', $body);
}

$keys = [];
for ($i = 0; $i < 1000; $i++) {
    $keys[] = "lp:$size:" . sprintf('%04d', $i);
    $r->set($keys[$i], str_repeat('x', $size), ['EX' => 1440]);
}
$payload = [str_repeat('a', $size), str_repeat('b', $size)];

$patterns = [
    'unlocked' => function (string $k, int $i) use ($r, $payload): void {
        $d = $r->get($k);
        $r->set($k, $payload[$i & 1], ['EX' => 1440]);
    },
    'scripts' => function (string $k, int $i) use ($r, $payload, $sha): void {
        $tok = bin2hex(random_bytes(16));
        $res = $r->evalSha($sha['lockRead'], [$k, "$k:lock", $tok, '30000'], 2);
        if (($res[0] ?? 0) !== 1) {
            throw new RuntimeException('lock not taken');
        }
        $w = $r->evalSha($sha['writeUnlock'], [$k, "$k:lock", $tok, $payload[$i & 1], '1440'], 2);
        if ($w !== 1) {
            throw new RuntimeException('write refused');
        }
    },
    'pipelined' => function (string $k, int $i) use ($r, $payload, $sha): void {
        $tok = bin2hex(random_bytes(16));
        $res = $r->multi(Redis::PIPELINE)->set("$k:lock", $tok, ['NX', 'PX' => 30000])->get("$k:lock")->get($k)->exec();
        if ($res[1] !== $tok) {
            throw new RuntimeException('lock not taken');
        }
        $w = $r->multi(Redis::PIPELINE)->set("$k:w:$tok", $payload[$i & 1], ['EX' => 1440])
            ->evalSha($sha['commit'], ["$k:w:$tok", $k, "$k:lock", $tok], 3)->exec();
        if ($w[1] !== 1) {
            throw new RuntimeException('write refused');
        }
    },
    'touch' => function (string $k, int $i) use ($r, $sha): void {
        $tok = bin2hex(random_bytes(16));
        $res = $r->multi(Redis::PIPELINE)->set("$k:lock", $tok, ['NX', 'PX' => 30000])->get("$k:lock")
            ->rawCommand('GETEX', $k, 'EX', '1440')->exec();
        if ($res[1] !== $tok) {
            throw new RuntimeException('lock not taken');
        }
        $r->evalSha($sha['unlock'], ["$k:lock", $tok], 1);
    },
];

printf("payload %d bytes, %d cycles per pattern, redis %s:%d\n", $size, $cycles, $host, $port);
printf("%-10s %10s %12s %14s\n", 'pattern', 'µs/cycle', 'cycles/s', 'server µs/cyc');
foreach ([1, 2, 3] as $round) {
    foreach ($patterns as $name => $fn) {
        $r->rawCommand('CONFIG', 'RESETSTAT');
        $cpu0 = $r->info('cpu');
        $t = hrtime(true);
        for ($i = 0; $i < $cycles; $i++) {
            $fn($keys[$i % 1000], $i);
        }
        $us = (hrtime(true) - $t) / 1e3 / $cycles;
        $cpu1 = $r->info('cpu');
        $server = (($cpu1['used_cpu_sys'] + $cpu1['used_cpu_user']) - ($cpu0['used_cpu_sys'] + $cpu0['used_cpu_user'])) * 1e6 / $cycles;
        printf("%-10s %10.1f %12.0f %14.1f   (round %d)\n", $name, $us, 1e6 / $us, $server, $round);
    }
}
