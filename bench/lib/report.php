<?php
// Turns the benchmark data (bench/results/latest.json) into latest.md and latest.png.
// Also usable on its own: php bench/lib/report.php bench/results/latest.json [out-dir]

declare(strict_types=1);

if (!function_exists('median')) {
    require_once __DIR__ . '/util.php';
}

/** Median cycles/s of the successful runs of one contender in one mode. */
function cli_cps(array $d, string $mode, string $name): ?float
{
    $runs = $d['cli'][$mode][$name]['runs'] ?? [];
    return median(array_map(fn ($r) => $r['cps'], array_filter($runs, fn ($r) => $r['ok'] ?? false)));
}

function cli_stat(array $d, string $mode, string $name, string $key): ?float
{
    $runs = $d['cli'][$mode][$name]['runs'] ?? [];
    return median(array_map(fn ($r) => $r['stats'][$key] ?? null, $runs));
}

function cli_cmds(array $d, string $mode, string $name): string
{
    $runs = array_values(array_filter($d['cli'][$mode][$name]['runs'] ?? [], fn ($r) => isset($r['stats'])));
    if ($runs === []) {
        return '';
    }
    $names = [];
    foreach ($runs as $r) {
        $names += $r['stats']['cmd'];
    }
    $parts = [];
    foreach (array_keys($names) as $c) {
        $v = median(array_map(fn ($r) => $r['stats']['cmd'][$c] ?? 0, $runs));
        if ($v >= 0.005) {
            $parts[$c] = $v;
        }
    }
    arsort($parts);
    return implode(' ', array_map(fn ($c, $v) => strtoupper($c) . (abs($v - 1) < 0.005 ? '' : '×' . rtrim(rtrim(number_format($v, 2), '0'), '.')),
        array_keys($parts), $parts));
}

function ratio_str(?float $a, ?float $b, int $dec = 2): string
{
    return ($a === null || $b === null || $b == 0) ? 'n/a' : number_format($a / $b, $dec) . '×';
}

/**
 * Median over rounds of cps(a) / cps(b) within the same round: the two runs were neighbours in
 * time, so drift of the machine cancels (steadier than the ratio of the two medians).
 * $b may be a list of contenders: each round then takes the best of them.
 */
function paired_ratio(array $d, string $mode, string $a, string|array $b): ?float
{
    $ra = $d['cli'][$mode][$a]['runs'] ?? [];
    $rs = [];
    foreach ((array) $b as $name) {
        $rs[] = $d['cli'][$mode][$name]['runs'] ?? [];
    }
    $ratios = [];
    foreach ($ra as $i => $x) {
        $best = null;
        foreach ($rs as $runs) {
            $y = $runs[$i] ?? null;
            if (($y['ok'] ?? false) && $y['cps'] > 0) {
                $best = max($best ?? 0, $y['cps']);
            }
        }
        if (($x['ok'] ?? false) && $best) {
            $ratios[] = $x['cps'] / $best;
        }
    }
    return median($ratios);
}

/** Median over rounds of (µs per cycle) / (trips × that round's round trip). */
function paired_floor(array $d, string $mode, string $name, int $trips): ?float
{
    $rtts = $d['floors_raw']['redis_rtt_us'] ?? [];
    $xs = [];
    foreach ($d['cli'][$mode][$name]['runs'] ?? [] as $i => $r) {
        // The round trip measured right before this run, else the one of its round.
        $rtt = $r['rtt_us'] ?? $rtts[$i] ?? null;
        if (($r['ok'] ?? false) && !empty($rtt)) {
            $xs[] = $r['us'] / ($trips * $rtt);
        }
    }
    return median($xs);
}

function paired_http(array $d, string $a, string $b): ?float
{
    $ra = $d['http']['contenders'][$a]['runs'] ?? [];
    $rb = $d['http']['contenders'][$b]['runs'] ?? [];
    $xs = [];
    foreach ($ra as $i => $x) {
        if ($x && ($rb[$i] ?? null) && $rb[$i]['rps'] > 0) {
            $xs[] = $x['rps'] / $rb[$i]['rps'];
        }
    }
    return median($xs);
}

function x_str(?float $x): string
{
    return $x === null ? 'n/a' : number_format($x, 2) . '×';
}

/** Median over rounds of (that round's `redis_shape_*` µs) / (trips × that round's round trip). */
function shape_floor(array $d, string $shape, int $trips): ?float
{
    $rtts = $d['floors_raw']['redis_rtt_us'] ?? [];
    $xs = [];
    foreach ($d['floors_raw']["redis_shape_{$shape}_us"] ?? [] as $i => $us) {
        if ($us !== null && !empty($rtts[$i])) {
            $xs[] = $us / ($trips * $rtts[$i]);
        }
    }
    return median($xs);
}

/**
 * The issue-5 targets: [text, measured, met (true/false/null = could not be measured), what the
 * protocol alone allows on this machine ('' where nothing bounds it)].
 */
function report_targets(array $d): array
{
    $t = [];
    foreach ([['write-1k', 2, 'write'], ['read-1k', 1, 'read']] as [$mode, $trips, $kind]) {
        foreach (['cannon' => ['locked', 'locked'], 'cannon-nolock' => ['lock=0', 'unlocked']] as $name => [$how, $shape]) {
            $x = paired_floor($d, $mode, $name, $trips);
            $cps = cli_cps($d, $mode, $name);
            $bare = shape_floor($d, "{$kind}_$shape", $trips);
            $t[] = ["cannon native $how, $mode: within 1.15× of its floor ($trips round trip" . ($trips > 1 ? 's' : '') . ')',
                $x === null ? 'n/a' : sprintf('%.1f µs/cycle = %.2f× the floor', 1e6 / $cps, $x), $x === null ? null : $x <= 1.15,
                $bare === null ? '' : sprintf('its commands alone: %.2f× the floor', $bare)];
        }
    }
    $add = function (string $text, ?float $x, float $goal, string $bound = '') use (&$t): void {
        $t[] = [$text, x_str($x), $x === null ? null : $x >= $goal, $bound];
    };
    // What a handler could reach against a MySQL contender if its own cycle cost no more than the
    // statements alone (mysqli, no session module): median over rounds of the contender's time
    // over the shape's, both of the same round. For the locked cycle, the cheaper of its shapes.
    $ceiling = function (string $rival, array $shapeKeys) use ($d): string {
        $xs = [];
        foreach ($d['cli']['write-1k'][$rival]['runs'] ?? [] as $i => $r) {
            $us = array_filter(array_map(fn ($key) => $d['floors_raw'][$key][$i] ?? null, $shapeKeys));
            if (($r['ok'] ?? false) && $us) {
                $xs[] = $r['us'] / min($us);
            }
        }
        $x = median($xs);
        return $x === null ? '' : sprintf('about %.2f× (cannon\'s statements alone, mysqli)', $x);
    };
    $add('cannon locked ≥ 2.0× phpredis locked (write, 1 KB)', paired_ratio($d, 'write-1k', 'cannon', 'phpredis-locked'), 2.0);
    $add('cannon locked ≥ 1.1× the best phpredis unlocked mode (write, 1 KB)',
        paired_ratio($d, 'write-1k', 'cannon', ['phpredis', 'phpredis-persistent']), 1.1);
    $add('cannon read-only (lazy write) ≥ 2.5× phpredis read-only', paired_ratio($d, 'read-1k', 'cannon', 'phpredis'), 2.5);
    $add('cannon MySQL locked ≥ 3× Symfony PdoSessionHandler', paired_ratio($d, 'write-1k', 'cannon-mysql', 'symfony-pdo'), 3.0,
        $ceiling('symfony-pdo', ['mysql_shape_locked_prepared_us', 'mysql_shape_locked_text_us']));
    $add('cannon MySQL lock=0 ≥ 1.5× plain PDO handler, persistent',
        paired_ratio($d, 'write-1k', 'cannon-mysql-nolock', 'php-pdo-persistent'), 1.5,
        $ceiling('php-pdo-persistent', ['mysql_shape_unlocked_us']));
    $h = $d['http']['contenders'] ?? [];
    $hc = $h['cannon'] ?? null;
    $hp = $h['phpredis-persistent'] ?? null;
    $x = paired_http($d, 'cannon', 'phpredis-persistent');
    if ($hc && $hp && $x !== null) {
        $t[] = ['HTTP: cannon locked ≥ 1.1× phpredis persistent req/s, with a lower p99',
            sprintf('%s req/s, p99 %s vs %s µs', x_str($x), fmt_num($hc['p99_us']), fmt_num($hp['p99_us'])),
            $x >= 1.1 && $hc['p99_us'] < $hp['p99_us'], ''];
    } else {
        $t[] = ['HTTP: cannon locked ≥ 1.1× phpredis persistent req/s, with a lower p99', 'n/a', null, ''];
    }
    return $t;
}

function report_markdown(array $d): string
{
    $m = $d['machine'];
    $cfg = $d['config'];
    $rtt = $d['floors']['redis_rtt_us'] ?? null;
    $o = "# cannon-session benchmark\n\n";
    $o .= sprintf("**%s** — %s, %d cores, %s RAM; %s, kernel %s. PHP %s, phpredis %s, Redis %s (private instance), %s. cannon-session %s.\n\n",
        $d['date'], $m['cpu'], $m['cores'], $m['memory'], $m['os'], $m['kernel'], $m['php'], $m['phpredis'], $m['redis'],
        $m['mysql'] ? 'MariaDB/MySQL ' . $m['mysql'] : 'no MySQL',
        ($d['git'] ?: '(no git)') . (!empty($d['ext_build']) ? " (extension {$d['ext_build']})" : ''));
    $o .= sprintf("Method: each contender runs in its own `php` process (one session cycle = `session_id()`, `session_start()`, read, "
        . "change counter + payload, `session_write_close()`; pool of %d ids round robin, each checked against the expected value). "
        . "Contenders are interleaved (A B C … A B C …; each round starts one contender further on), %d rounds of %.1f s each; the table shows medians. "
        . "Redis is a private `redis-server` started for the run. %s CPU placement: %s. "
        . "Load average at the end: %s. The benchmark took %s s.\n\n",
        $cfg['pool'], $cfg['rounds'], $cfg['seconds'], ($cfg['mysql_server'] ?? 'system') === 'private'
            ? 'MySQL is a private MariaDB started for the run, on the same CPU as Redis, with `innodb_flush_log_at_trx_commit=2` '
                . '(each commit is written to the OS, and flushed to disk once a second): like the private Redis, which keeps '
                . 'nothing on disk, it measures the session handlers rather than the disk, whose per-commit flush every '
                . 'contender would pay alike. The system server\'s durable commit is measured beside it (round-trip floors).'
            : 'MySQL is the system server, as configured (`BENCH_MYSQL=system`).',
        match ($cfg['pin'] ?? 'none') {
            'same' => 'the PHP processes and the private redis-server share CPU 0 (`BENCH_PIN=same`; a round trip then costs '
                . 'CPU work and two context switches, not a wake-up of another vCPU, which on a VM is slow and erratic)',
            'split' => 'PHP processes on CPU 0, the private redis-server on the last CPU (`BENCH_PIN=split`)',
            default => 'left to the scheduler (`BENCH_PIN=none`)',
        }, $m['load'], $d['duration_s'] ?? '?');

    $o .= "## Targets (issue 5)\n\n| target | measured | | what the protocol alone allows here |\n|---|---|---|---|\n";
    foreach (report_targets($d) as [$text, $val, $met, $bound]) {
        $o .= "| $text | $val | " . ($met === null ? 'n/a' : ($met ? 'met' : '**missed**')) . " | $bound |\n";
    }
    $o .= "\n*What the protocol alone allows*: the same commands or statements sent in a loop with no session module "
        . "and no handler (Redis: a plain PHP socket, `bench/lib/redis_shapes.php`, each round beside the round trip; MySQL: "
        . "mysqli, `bench/lib/mysql_shapes.php`, also each round). Where that is already past a target, a handler sending those "
        . "commands cannot be expected to meet it on this machine (the two are timed at different moments, so either may "
        . "come out a little ahead); sending fewer would give up the lock or the expiry refresh.\n";

    $o .= "\n## Round-trip floors\n\n| measure | µs |\n|---|---:|\n";
    $f = $d['floors'];
    $o .= '| Redis round trip (`redis-benchmark -c 1 -P 1 -t ping`, same server) | ' . fmt_num($rtt, 1) . " |\n";
    $o .= '| → floor of a write cycle (2 round trips) | ' . fmt_num($rtt ? 2 * $rtt : null, 1)
        . ($rtt ? sprintf(' (%s cycles/s)', fmt_num(1e6 / (2 * $rtt))) : '') . " |\n";
    $o .= '| → floor of a read-only cycle (1 round trip) | ' . fmt_num($rtt, 1)
        . ($rtt ? sprintf(' (%s cycles/s)', fmt_num(1e6 / $rtt)) : '') . " |\n";
    if (!empty($f['redis_rtt_cross_cpu_us'])) {
        $o .= '| Redis round trip with client and server on different CPUs (for reference) | ' . fmt_num($f['redis_rtt_cross_cpu_us'], 1) . " |\n";
    }
    foreach ([['write_locked', 'write cycle, locked: `SET NX PX GET` + `GETEX`, then `SET EX` + `DEL` (2 round trips)'],
        ['write_unlocked', 'write cycle, lock=0: `GETEX`, then `SET EX` (2 round trips)'],
        ['read_locked', 'read-only cycle, locked: `SET NX PX GET` + `GETEX` (1 round trip), then `DEL` sent without waiting'],
        ['read_unlocked', 'read-only cycle, lock=0: `GETEX` (1 round trip)']] as $i => [$shape, $label]) {
        $o .= ($i === 0 ? '| cannon\'s Redis commands alone (plain PHP socket, no session module): ' : '| … ') . $label . ' | '
            . fmt_num($f["redis_shape_{$shape}_us"] ?? null, 1) . " |\n";
    }
    $o .= '| TCP connect + close to Redis (PHP) | ' . fmt_num($f['tcp_connect_us'] ?? null, 1) . " |\n";
    $o .= '| MySQL `SELECT 1` round trip (PDO) | ' . fmt_num($f['mysql_select1_us'] ?? null, 1) . " |\n";
    $o .= '| MySQL single-row upsert, autocommit (PDO) | ' . fmt_num($f['mysql_commit_us'] ?? null, 1) . " |\n";
    $o .= '| → floor of a MySQL write cycle (`SELECT` + commit) | '
        . fmt_num(isset($f['mysql_commit_us'], $f['mysql_select1_us']) ? $f['mysql_commit_us'] + $f['mysql_select1_us'] : null, 1) . " |\n";
    $o .= '| MySQL connect + auth (PDO) | ' . fmt_num($f['mysql_connect_us'] ?? null, 1) . " |\n";
    if (isset($f['mysql_shape_unlocked_us'])) {
        // bench/lib/mysql_shapes.php: the statements of a cycle alone, from mysqli, no session module.
        $o .= '| MySQL statements alone (mysqli, no session module): cannon\'s unlocked cycle, prepared SELECT + upsert (2 round trips) | '
            . fmt_num($f['mysql_shape_unlocked_us'], 1) . " |\n";
        $o .= '| … cannon\'s locked cycle, `GET_LOCK; SELECT` + `upsert; DO RELEASE_LOCK` as text multi-statements (2 round trips) | '
            . fmt_num($f['mysql_shape_locked_text_us'] ?? null, 1) . " |\n";
        $o .= '| … a locked cycle of four prepared statements (4 round trips), for comparison | '
            . fmt_num($f['mysql_shape_locked_prepared_us'] ?? null, 1) . " |\n";
    }
    if (!empty($f['mysql_system_commit_us'])) {
        $o .= '| For reference, the system MariaDB (durable, `innodb_flush_log_at_trx_commit=1`): `SELECT 1` round trip | '
            . fmt_num($f['mysql_system_select1_us'] ?? null, 1) . " |\n";
        $o .= '| … and its single-row upsert with the disk flush of each commit | ' . fmt_num($f['mysql_system_commit_us'], 1) . " |\n";
    }

    foreach ($cfg['modes'] as $mode) {
        $o .= "\n## CLI: " . ($cfg['mode_labels'][$mode] ?? $mode) . "\n\n";
        $o .= "| contender | lock | connection | cycles/s | µs/cycle | vs phpredis | vs floor | runs (cycles/s) | client CPU µs | Redis CPU µs | round trips | socket sends | syscalls | Redis commands |\n";
        $o .= "|---|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---|\n";
        $trips = str_starts_with($mode, 'read') ? 1 : 2;
        foreach ($d['contenders'] as $name => $c) {
            if (isset($d['unavailable'][$name])) {
                $o .= "| {$c['label']} | " . ($c['lock'] ? 'yes' : 'no') . " | {$c['conn']} | n/a | | | | | | | | | | |\n";
                continue;
            }
            $cps = cli_cps($d, $mode, $name);
            $runs = $d['cli'][$mode][$name]['runs'] ?? [];
            $runsStr = implode(' ', array_map(fn ($r) => ($r['ok'] ?? false) ? fmt_num($r['cps']) : 'FAIL', $runs));
            $floor = $c['store'] === 'redis' ? x_str(paired_floor($d, $mode, $name, $trips)) : '';
            $st = $d['strace'][$mode][$name] ?? null;
            $rt = cli_stat($d, $mode, $name, 'rt');
            $okRuns = array_filter($runs, fn ($r) => $r['ok'] ?? false);
            $cpu = median(array_map(fn ($r) => ($r['cpu_user_us'] ?? 0) + ($r['cpu_sys_us'] ?? 0), $okRuns));
            $scpu = cli_stat($d, $mode, $name, 'server_cpu_us');
            $o .= sprintf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
                $name === 'phpredis' ? "**{$c['label']}**" : (str_starts_with($name, 'cannon') ? "**{$c['label']}**" : $c['label']),
                $c['lock'] ? 'yes' : 'no', $c['conn'], fmt_num($cps), $cps ? fmt_num(1e6 / $cps, 1) : 'n/a',
                $name === 'phpredis' ? '1.00×' : x_str(paired_ratio($d, $mode, $name, 'phpredis')), $floor, $runsStr,
                fmt_num($cpu, 1), $scpu === null ? '' : fmt_num($scpu, 1),
                $rt === null ? '' : fmt_num($rt, 2), $st ? fmt_num($st['sends'], 2) . ($st['connects'] >= 0.5 ? sprintf(' (+%s connect)', fmt_num($st['connects'], 1)) : '') : '',
                $st ? fmt_num($st['syscalls'], 1) : '', cli_cmds($d, $mode, $name));
        }
    }
    $o .= "\n*vs phpredis* and *vs floor*: the median over rounds of the ratio between runs of the same round "
        . "(neighbours in time, so drift of the machine cancels); *vs floor* divides µs/cycle by the Redis round "
        . "trip × 2 (write) or × 1 (read-only), measured (5,000 pings) right before each cannon run and once per round for the others.\n"
        . "\n*Client CPU*: user + system CPU time of the PHP process per cycle (getrusage; steadier than wall time on a busy "
        . "machine). *Redis CPU*: the private redis-server's CPU time per cycle (`INFO cpu`). "
        . "*Round trips*: replies the server wrote per cycle (`INFO stats` total_writes_processed, "
        . "snapshotted around the timed part; commands sent together count once; cannon's locked read-only cycle sends its "
        . "unlock without waiting for the reply, so it counts 2 here but waits for 1). *Socket sends* and *syscalls*: "
        . "counted with strace on a separate 200-cycle run (sends = send/write calls on sockets). *Redis commands*: "
        . "`INFO commandstats` deltas; Redis 7 also counts the commands a Lua script runs (under their own names).\n";

    $fail = [];
    foreach ($d['cli'] as $mode => $byName) {
        foreach ($byName as $name => $x) {
            foreach ($x['runs'] as $i => $r) {
                if (!($r['ok'] ?? false)) {
                    $fail[] = "- $mode / $name, run " . ($i + 1) . ': ' . substr((string) ($r['error'] ?? '?'), 0, 300);
                }
            }
        }
    }
    foreach ($d['unavailable'] as $name => $why) {
        $fail[] = "- $name: n/a — " . substr($why, 0, 300);
    }
    // A contender that claims a new connection per cycle must show one in the server's counters.
    foreach ($d['contenders'] as $name => $c) {
        foreach ($cfg['modes'] as $mode) {
            $conns = cli_stat($d, $mode, $name, 'connections');
            if ($c['store'] === 'redis' && $c['conn'] === 'fresh' && $conns !== null && $conns < 0.9) {
                $fail[] = sprintf('- %s / %s: marked "fresh" but the server saw %.2f connections per cycle', $mode, $name, $conns);
            }
        }
    }
    if ($fail) {
        $o .= "\n### Failures and missing contenders\n\n" . implode("\n", $fail) . "\n";
    }
    $o .= "\n*Fresh connection per cycle* (a php-fpm request without persistent connections): phpredis' native handler "
        . "without `persistent=1`, the plain PDO handler and Symfony's PdoSessionHandler (given a DSN) connect and "
        . "disconnect every cycle (marked `fresh`)"
        . (isset($d['unavailable']['cannon-fresh'])
            ? '. cannon keeps one connection per process: its fresh-connection row (`persistent=0` in the DSN) is n/a until '
              . "the extension can close the connection at the end of each request.\n"
            : ", and so does cannon with `persistent=0`.\n");

    $h = $d['http'] ?? null;
    $o .= "\n## HTTP: nginx + php-fpm (2 static workers), wrk -c4 -t2\n\n";
    if (!$h || isset($h['skipped'])) {
        $o .= 'Skipped' . (isset($h['skipped']) ? ': ' . $h['skipped'] : '') . ".\n";
    } else {
        $o .= sprintf("Medians of %d runs of %d s, each request one session cycle (1 KB payload) with a cookie from a pool of 1000.\n\n",
            $cfg['http_rounds'], $cfg['http_seconds']);
        $o .= "| contender | requests/s | vs phpredis | p50 µs | p99 µs | errors | sessions found in Redis |\n|---|---:|---:|---:|---:|---:|---:|\n";
        foreach ($h['contenders'] as $name => $c) {
            $o .= sprintf("| %s | %s | %s | %s | %s | %d | %s |\n", $c['label'], fmt_num($c['rps']),
                $name === 'phpredis' ? '1.00×' : x_str(paired_http($d, $name, 'phpredis')),
                fmt_num($c['p50_us']), fmt_num($c['p99_us']), $c['errors'],
                isset($h['sessions_stored'][$name]) ? fmt_num($h['sessions_stored'][$name]) . ' / 1,000' : '–');
        }
        $o .= "\nnginx, php-fpm, wrk and Redis are not pinned here (a whole-system test on the same 2 CPUs), so these "
            . "numbers move more between runs than the CLI ones.\n";
        if ($h['fpm_warnings']) {
            $o .= "\nphp-fpm log:\n\n```\n" . implode("\n", $h['fpm_warnings']) . "\n```\n";
        }
    }

    $mem = $d['memory'] ?? null;
    $o .= "\n## Memory (cannon native handler, one process)\n\n";
    if (!$mem || !isset($mem['cycles'])) {
        $o .= "Not measured.\n";
    } else {
        $o .= sprintf("| point | VmRSS kB |\n|---|---:|\n| process start | %s |\n| after set-up (pool of %d + 1000 cycles) | %s |\n",
            fmt_num($mem['rss_kb_start']), $cfg['pool'], fmt_num($mem['rss_kb_ready']));
        foreach ($mem['rss_samples'] as [$n, $kb]) {
            $o .= sprintf("| after %s cycles | %s |\n", fmt_num($n), fmt_num($kb));
        }
        $o .= sprintf("\nGrowth over %s cycles after set-up: %+d kB (%s, %s bad reads, %s warnings).\n",
            fmt_num($mem['cycles']), $mem['rss_kb_end'] - $mem['rss_kb_ready'],
            $mem['ok'] ? 'run ok' : 'run FAILED', $mem['bad'], $mem['errors']);
    }

    $o .= "\n## How each contender ran\n\n";
    $common = $d['common_flags'] ?? '';
    if ($common !== '') {
        $o .= "`\$COMMON` = `$common`\n\n";
    }
    $mode = $cfg['modes'][0] ?? 'write-1k';
    foreach ($d['contenders'] as $name => $c) {
        if (isset($d['cli'][$mode][$name]['cmd'])) {
            $line = $d['cli'][$mode][$name]['cmd'];
            if ($common !== '') {
                $line = str_replace($common, '$COMMON', $line);
            }
            $o .= "- `$name`: `" . str_replace('`', "'", $line) . "`\n";
        }
    }
    $o .= "\nEnvironment `BENCH_CTX` carries the private Redis port, the MySQL account and a temp dir. "
        . "Re-run with `make bench` (options: `BENCH_ROUNDS`, `BENCH_SECONDS`, `BENCH_PIN=same|split|none`, `BENCH_ARGS=\"--skip-http …\"`).\n";
    return $o;
}

$reportChartError = '';
function report_chart_error(): string
{
    global $reportChartError;
    return $reportChartError;
}

/** Bar chart of cycles/s per contender (one bar per mode), with gnuplot. */
function report_chart(array $d, string $png, string $tmp): bool
{
    global $reportChartError;
    $gnuplot = trim((string) shell_exec('command -v gnuplot 2>/dev/null'));
    if ($gnuplot === '') {
        $reportChartError = 'gnuplot not installed';
        return false;
    }
    $modes = $d['config']['modes'];
    if ($modes === []) {
        $reportChartError = 'no CLI results';
        return false;
    }
    // Two panels: Redis contenders (tens of thousands of cycles/s) and the others (MySQL, files),
    // each with its own scale, so the slower backends stay readable.
    @mkdir($tmp, 0700, true);
    $panels = ['redis' => 'Redis', 'mysql' => 'MySQL / MariaDB', 'files' => 'files'];
    $widths = ['redis' => 0.58, 'mysql' => 0.3, 'files' => 0.12];
    $files = [];
    foreach (array_keys($panels) as $panel) {
        $dat = '';
        foreach ($d['contenders'] as $name => $c) {
            if ($c['store'] !== $panel) {
                continue;
            }
            $row = ['"' . str_replace('"', "'", $name) . '"'];
            foreach ($modes as $mode) {
                $v = cli_cps($d, $mode, $name);
                $row[] = $v === null ? '?' : (string) round($v);
            }
            $dat .= implode("\t", $row) . "\n";
        }
        if ($dat !== '') {
            $files[$panel] = "$tmp/chart-$panel.dat";
            file_put_contents($files[$panel], $dat);
        }
    }
    if ($files === []) {
        $reportChartError = 'no contenders';
        return false;
    }
    $colors = ['#3b6fb6', '#e08a2c', '#5aa05a'];
    $rtt = $d['floors']['redis_rtt_us'] ?? null;
    $m = $d['machine'];
    $title = sprintf('cannon-session: session cycles per second in one PHP process (median of %d runs, higher is better) - %s, %s, %d cores, PHP %s, Redis %s',
        $d['config']['rounds'], $d['date'], str_replace(['"', "'"], '', $m['cpu']), $m['cores'], $m['php'], $m['redis']);
    $script = "set terminal pngcairo size 1500,760 font 'DejaVu Sans,10'\n"
        . "set output '$png'\n"
        . "set datafile missing '?'\n"
        . "set style data histograms\nset style histogram clustered gap 1\n"
        . "set style fill solid 0.9 border -1\nset boxwidth 0.9\n"
        . "set xtics rotate by -35 scale 0 font ',9' nomirror\nset ytics nomirror\nset yrange [0:*]\n"
        . "set grid ytics\nset format y \"%.0f\"\nset offsets 0, 0, graph 0.2, 0\n"
        . "set multiplot title \"$title\" font ',11'\n";
    $n = count($files);
    $x = 0.0;
    foreach ($files as $panel => $file) {
        $count = count(file($file));
        $w = $widths[$panel] / array_sum(array_intersect_key($widths, $files));
        $script .= sprintf("set origin %.2f,0\nset size %.2f,0.94\nset bmargin 8\nset tmargin 4\n", $x, $w);
        $script .= "set xrange [-0.6:" . ($count - 0.4) . "]\n";
        $script .= "set title '{$panels[$panel]}'\nset ylabel 'cycles/s'\n";
        $script .= $panel === 'redis' ? "set key top right vertical font ',9'\n" : "unset key\n";
        $script .= "unset arrow\nunset label\n";
        if ($panel === 'redis' && $rtt) {
            $y = 1e6 / (2 * $rtt);
            $script .= sprintf("set arrow from graph 0, first %f to graph 1, first %f nohead dt 2 lw 1.5 lc rgb '#aa2222' front\n", $y, $y)
                . sprintf("set label 'floor of a write cycle: 2 round trips (%.0f/s)' at graph 0.01, first %f offset 0,0.7 font ',9' tc rgb '#aa2222' front\n", $y, $y);
        }
        $plots = [];
        foreach ($modes as $i => $mode) {
            $label = str_replace(['"', "'"], '', $d['config']['mode_labels'][$mode] ?? $mode);
            $plots[] = ($i === 0 ? "'$file' using 2:xtic(1)" : "'' using " . ($i + 2))
                . " title '$label' lc rgb '{$colors[$i % 3]}'";
        }
        $script .= 'plot ' . implode(', ', $plots) . "\n";
        $x += $w;
    }
    $script .= "unset multiplot\n";
    file_put_contents("$tmp/chart.gp", $script);
    [$rc, $out, $err] = run_cmd([$gnuplot, "$tmp/chart.gp"], null, 60);
    if ($rc !== 0 || !is_file($png)) {
        $reportChartError = trim($err) ?: "gnuplot exit $rc";
        return false;
    }
    return true;
}

if (PHP_SAPI === 'cli' && realpath($_SERVER['SCRIPT_FILENAME'] ?? '') === realpath(__FILE__)) {
    $file = $argv[1] ?? dirname(__DIR__) . '/results/latest.json';
    $outDir = $argv[2] ?? dirname($file);
    $d = json_decode((string) file_get_contents($file), true);
    file_put_contents("$outDir/latest.md", report_markdown($d));
    $tmpDir = sys_get_temp_dir() . '/cannon-bench-report.' . getmypid();
    $ok = report_chart($d, "$outDir/latest.png", $tmpDir);
    exec('rm -rf ' . escapeshellarg($tmpDir));
    fwrite(STDERR, "wrote $outDir/latest.md" . ($ok ? ' and latest.png' : ' (no chart: ' . report_chart_error() . ')') . "\n");
}
