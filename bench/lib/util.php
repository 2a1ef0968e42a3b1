<?php
// Helpers for bench/run.php: logging, free ports, child processes, a tiny Redis client for
// INFO, and medians.

declare(strict_types=1);

function logline(string $msg): void
{
    fwrite(STDERR, '[' . date('H:i:s') . "] $msg\n");
}

function median(array $xs): ?float
{
    $xs = array_values(array_filter($xs, fn ($x) => $x !== null));
    if ($xs === []) {
        return null;
    }
    sort($xs);
    $n = count($xs);
    return $n % 2 ? (float) $xs[intdiv($n, 2)] : ($xs[$n / 2 - 1] + $xs[$n / 2]) / 2;
}

/**
 * Times each of `$shapes` (name => fn(int $k)) in interleaved blocks of `$perBlock` calls (A B C,
 * A B C, ...), so drift falls on every shape alike; `$k` counts calls across all blocks.
 * `$settle`, if given, runs at the end of each block, inside its time. Returns µs per call,
 * the median over blocks, per shape.
 */
function time_interleaved(array $shapes, int $blocks, int $perBlock, ?callable $settle = null): array
{
    $times = array_fill_keys(array_keys($shapes), []);
    $k = 0;
    for ($b = 0; $b < $blocks; $b++) {
        foreach ($shapes as $name => $cycle) {
            $start = hrtime(true);
            for ($j = 0; $j < $perBlock; $j++) {
                $cycle(++$k);
            }
            if ($settle !== null) {
                $settle();
            }
            $times[$name][] = (hrtime(true) - $start) / $perBlock / 1e3;
        }
    }
    return array_map('median', $times);
}

/** A TCP port on 127.0.0.1 that nobody listens on right now. */
function free_port(): int
{
    $s = stream_socket_server('tcp://127.0.0.1:0', $errno, $errstr);
    if ($s === false) {
        throw new RuntimeException("cannot find a free port: $errstr");
    }
    $name = stream_socket_get_name($s, false);
    fclose($s);
    return (int) substr($name, strrpos($name, ':') + 1);
}

function port_open(string $host, int $port, float $timeout = 0.2): bool
{
    $s = @stream_socket_client("tcp://$host:$port", $errno, $errstr, $timeout);
    if ($s === false) {
        return false;
    }
    fclose($s);
    return true;
}

/** Runs a command (array form, no shell), returns [exit code, stdout, stderr], bounded in time. */
function run_cmd(array $cmd, ?string $stdin = null, float $timeout = 120.0, ?array $env = null): array
{
    $p = proc_open($cmd, [0 => ['pipe', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes, null, $env);
    if (!is_resource($p)) {
        return [-1, '', 'proc_open failed'];
    }
    if ($stdin !== null) {
        fwrite($pipes[0], $stdin);
    }
    fclose($pipes[0]);
    stream_set_blocking($pipes[1], false);
    stream_set_blocking($pipes[2], false);
    $out = $err = '';
    $deadline = microtime(true) + $timeout;
    while (true) {
        $r = [$pipes[1], $pipes[2]];
        $w = $e = null;
        if (@stream_select($r, $w, $e, 0, 200000) > 0) {
            foreach ($r as $fd) {
                $chunk = fread($fd, 65536);
                if ($fd === $pipes[1]) {
                    $out .= $chunk;
                } else {
                    $err .= $chunk;
                }
            }
        }
        $st = proc_get_status($p);
        if (!$st['running']) {
            $out .= stream_get_contents($pipes[1]);
            $err .= stream_get_contents($pipes[2]);
            fclose($pipes[1]);
            fclose($pipes[2]);
            proc_close($p);
            return [$st['exitcode'], $out, $err];
        }
        if (microtime(true) > $deadline) {
            posix_kill($st['pid'], SIGKILL);
            fclose($pipes[1]);
            fclose($pipes[2]);
            proc_close($p);
            return [-1, $out, $err . "\n(killed after {$timeout}s)"];
        }
    }
}

/** Minimal RESP client, enough for INFO and a few admin commands on the private redis-server. */
final class MiniRedis
{
    /** @var resource */
    private $s;

    public function __construct(string $host, int $port)
    {
        $s = @stream_socket_client("tcp://$host:$port", $errno, $errstr, 2.0);
        if ($s === false) {
            throw new RuntimeException("redis $host:$port: $errstr");
        }
        stream_set_timeout($s, 10);
        $this->s = $s;
    }

    public function cmd(string ...$args): mixed
    {
        $buf = '*' . count($args) . "\r\n";
        foreach ($args as $a) {
            $buf .= '$' . strlen($a) . "\r\n$a\r\n";
        }
        fwrite($this->s, $buf);
        return $this->reply();
    }

    private function reply(): mixed
    {
        $line = fgets($this->s);
        if ($line === false) {
            throw new RuntimeException('redis: connection lost');
        }
        $t = $line[0];
        $v = substr($line, 1, -2);
        switch ($t) {
            case '+':
                return $v;
            case '-':
                throw new RuntimeException("redis: $v");
            case ':':
                return (int) $v;
            case '$':
                if ((int) $v < 0) {
                    return null;
                }
                $data = '';
                $need = (int) $v + 2;
                while (strlen($data) < $need) {
                    $chunk = fread($this->s, $need - strlen($data));
                    if ($chunk === false || $chunk === '') {
                        throw new RuntimeException('redis: short read');
                    }
                    $data .= $chunk;
                }
                return substr($data, 0, -2);
            case '*':
                $out = [];
                for ($i = 0, $n = (int) $v; $i < $n; $i++) {
                    $out[] = $this->reply();
                }
                return $out;
        }
        throw new RuntimeException('redis: bad reply ' . json_encode($line));
    }

    /**
     * Counters for one snapshot: server replies written (total_writes_processed), reads,
     * connections, and per-command calls. Commands run inside scripts count under their own name.
     */
    public function snapshot(): array
    {
        $info = (string) $this->cmd('INFO', 'stats', 'commandstats', 'cpu');
        $snap = ['writes' => 0, 'reads' => 0, 'connections' => 0, 'commands' => 0, 'cpu_us' => 0, 'cmd' => []];
        foreach (explode("\n", $info) as $l) {
            $l = trim($l);
            if (preg_match('/^total_writes_processed:(\d+)/', $l, $m)) {
                $snap['writes'] = (int) $m[1];
            } elseif (preg_match('/^total_reads_processed:(\d+)/', $l, $m)) {
                $snap['reads'] = (int) $m[1];
            } elseif (preg_match('/^total_connections_received:(\d+)/', $l, $m)) {
                $snap['connections'] = (int) $m[1];
            } elseif (preg_match('/^total_commands_processed:(\d+)/', $l, $m)) {
                $snap['commands'] = (int) $m[1];
            } elseif (preg_match('/^used_cpu_(sys|user):([\d.]+)/', $l, $m)) {
                $snap['cpu_us'] += (int) round((float) $m[2] * 1e6);
            } elseif (preg_match('/^cmdstat_([a-z_|]+):calls=(\d+)/', $l, $m)) {
                $snap['cmd'][$m[1]] = (int) $m[2];
            }
        }
        return $snap;
    }
}

/** Difference of two snapshots, minus a calibration delta (the cost of taking a snapshot). */
function snap_delta(array $a, array $b, ?array $cal = null): array
{
    $d = [];
    foreach (['writes', 'reads', 'connections', 'commands', 'cpu_us'] as $k) {
        $d[$k] = $b[$k] - $a[$k] - ($cal[$k] ?? 0);
    }
    $d['cmd'] = [];
    foreach ($b['cmd'] as $name => $calls) {
        $n = $calls - ($a['cmd'][$name] ?? 0) - ($cal['cmd'][$name] ?? 0);
        if ($n > 0) {
            $d['cmd'][$name] = $n;
        }
    }
    return $d;
}

function fmt_num(?float $x, int $dec = 0): string
{
    return $x === null ? 'n/a' : number_format($x, $dec, '.', ',');
}

function machine_info(): array
{
    $cpu = 'unknown';
    if (is_readable('/proc/cpuinfo') && preg_match('/^model name\s*:\s*(.+)$/m', (string) file_get_contents('/proc/cpuinfo'), $m)) {
        $cpu = trim($m[1]);
    }
    $mem = '';
    if (is_readable('/proc/meminfo') && preg_match('/^MemTotal:\s+(\d+)/m', (string) file_get_contents('/proc/meminfo'), $m)) {
        $mem = round($m[1] / 1048576, 1) . ' GiB';
    }
    $os = '';
    if (is_readable('/etc/os-release') && preg_match('/^PRETTY_NAME="?([^"\n]+)/m', (string) file_get_contents('/etc/os-release'), $m)) {
        $os = $m[1];
    }
    $load = is_readable('/proc/loadavg') ? implode(' ', array_slice(explode(' ', (string) file_get_contents('/proc/loadavg')), 0, 3)) : '';
    return [
        'cpu' => $cpu,
        'cores' => (int) trim((string) shell_exec('nproc 2>/dev/null')),
        'memory' => $mem,
        'os' => $os,
        'kernel' => php_uname('r'),
        'php' => PHP_VERSION,
        'phpredis' => phpversion('redis') ?: 'not loaded',
        'load' => $load,
    ];
}
