<?php
// HTTP benchmark: nginx + php-fpm (one pool per contender, pm=static with 2 workers each) on
// loopback ports, run from a temp dir with their own configs, logs and pid files; driven by wrk
// (-c4 -t2) with bench/http/pool.lua (a fixed pool of session cookies). The contenders take
// turns (interleaved rounds); medians of requests/s and of the p50/p99 latencies are reported.
// Everything started here is stopped by PID in http_stop().

declare(strict_types=1);

const HTTP_CONTENDERS = ['none', 'cannon', 'cannon-nolock', 'phpredis', 'phpredis-persistent', 'phpredis-locked'];

$httpProcs = []; // name => [proc, pid]

function http_stop(): void
{
    global $httpProcs;
    foreach ($httpProcs as $name => [$proc, $pid]) {
        if (is_resource($proc) && proc_get_status($proc)['running']) {
            posix_kill($pid, SIGTERM);
            for ($i = 0; $i < 50 && proc_get_status($proc)['running']; $i++) {
                usleep(100000);
            }
            if (proc_get_status($proc)['running']) {
                posix_kill($pid, SIGKILL);
            }
        }
        unset($httpProcs[$name]);
    }
}

/**
 * CPUs for the HTTP test's processes (run.php itself is pinned to CPU 0, and children inherit
 * that): `BENCH_HTTP_PIN=free` (default) lets nginx, php-fpm and wrk use every CPU; `split` puts
 * nginx and php-fpm on CPU 0 (with the private Redis) and wrk on the last CPU.
 */
function http_cpus(string $role): array
{
    $n = max(1, (int) trim((string) shell_exec('nproc 2>/dev/null')));
    return match (getenv('BENCH_HTTP_PIN') ?: 'free') {
        'split' => ['taskset', '-c', $role === 'client' ? (string) ($n - 1) : '0'],
        default => ['taskset', '-c', '0-' . ($n - 1)],
    };
}

function http_find_binary(array $names): ?string
{
    foreach ($names as $n) {
        $p = trim((string) shell_exec('command -v ' . escapeshellarg($n) . ' 2>/dev/null'));
        if ($p !== '') {
            return $p;
        }
        foreach (['/usr/sbin/', '/usr/bin/', '/usr/local/sbin/'] as $d) {
            if (is_executable($d . $n)) {
                return $d . $n;
            }
        }
    }
    return null;
}

/** php-fpm INI value: quoted unless a plain word. */
function fpm_value(string $v): string
{
    return preg_match('/^[A-Za-z0-9_.\/-]*$/', $v) ? $v : '"' . $v . '"';
}

function http_bench(array $cfg, array $ctxBase, string $tmp, MiniRedis $redis): array
{
    global $httpProcs;
    $fpm = http_find_binary(['php-fpm' . PHP_MAJOR_VERSION . '.' . PHP_MINOR_VERSION, 'php-fpm']);
    $nginx = http_find_binary(['nginx']);
    $wrk = http_find_binary(['wrk']);
    if ($fpm === null || $nginx === null || $wrk === null) {
        $missing = implode(', ', array_keys(array_filter(['php-fpm' => $fpm, 'nginx' => $nginx, 'wrk' => $wrk], fn ($x) => $x === null)));
        logline("HTTP: skipped, not installed: $missing (bench/deps.sh installs them)");
        return ['skipped' => "not installed: $missing"];
    }
    $dir = "$tmp/http";
    @mkdir("$dir/nginx-tmp", 0755, true);
    $ctx = BenchCtx::fromArray(['payload' => 1024] + $ctxBase);
    $defs = bench_contenders();
    $haveExt = is_file($cfg['ext']);
    $names = array_values(array_filter(HTTP_CONTENDERS, fn ($n) => $n === 'none'
        || (isset($defs[$n]) && (empty($defs[$n]['cannon']) || $haveExt))));
    $root = dirname(__DIR__, 2);
    $page = "$root/bench/http/page.php";
    $isRoot = posix_geteuid() === 0;

    // php-fpm: one pool per contender.
    $fpmConf = "[global]\npid = $dir/fpm.pid\nerror_log = $dir/fpm.log\ndaemonize = no\n";
    $ports = [];
    foreach ($names as $n) {
        $ports[$n] = free_port();
        $fpmConf .= "\n[$n]\nlisten = 127.0.0.1:{$ports[$n]}\npm = static\npm.max_children = 2\n"
            . "pm.max_requests = 0\ncatch_workers_output = yes\n";
        if ($isRoot) {
            $fpmConf .= "user = root\ngroup = root\n";
        }
        $ini = bench_common_ini();
        unset($ini['session.use_cookies'], $ini['session.use_only_cookies'], $ini['display_errors']);
        $ini['session.use_cookies'] = '1';
        $ini['session.use_only_cookies'] = '1';
        if ($n !== 'none') {
            $ini += ($defs[$n]['ini'])($ctx);
        }
        foreach ($ini as $k => $v) {
            $fpmConf .= "php_admin_value[$k] = " . fpm_value((string) $v) . "\n";
        }
    }
    file_put_contents("$dir/fpm.conf", $fpmConf);
    $fpmCmd = [...http_cpus('server'), $fpm, '-F', '-y', "$dir/fpm.conf"];
    if ($haveExt) {
        array_push($fpmCmd, '-d', 'extension=' . $cfg['ext']);
    }
    if ($isRoot) {
        $fpmCmd[] = '-R';
    }

    // nginx: one location per contender, all to the same page.
    $nginxPort = free_port();
    $locs = '';
    foreach ($names as $n) {
        $flag = $n === 'none' ? '0' : '1';
        $locs .= "    location = /c/$n {\n"
            . "      include /etc/nginx/fastcgi_params;\n"
            . "      fastcgi_param SCRIPT_FILENAME $page;\n"
            . "      fastcgi_param BENCH_SESSION $flag;\n"
            . "      fastcgi_pass 127.0.0.1:{$ports[$n]};\n    }\n";
    }
    $fastcgiParams = is_file('/etc/nginx/fastcgi_params') ? '' : "fastcgi_params missing\n";
    $nginxConf = "worker_processes 1;\npid $dir/nginx.pid;\nerror_log $dir/nginx-error.log warn;\ndaemon off;\n"
        . ($isRoot ? "user root;\n" : '')
        . "events { worker_connections 1024; }\n"
        . "http {\n  access_log off;\n  keepalive_requests 1000000;\n"
        . "  client_body_temp_path $dir/nginx-tmp/body;\n  fastcgi_temp_path $dir/nginx-tmp/fastcgi;\n"
        . "  proxy_temp_path $dir/nginx-tmp/proxy;\n  uwsgi_temp_path $dir/nginx-tmp/uwsgi;\n"
        . "  scgi_temp_path $dir/nginx-tmp/scgi;\n"
        . "  server {\n    listen 127.0.0.1:$nginxPort;\n$locs  }\n}\n";
    file_put_contents("$dir/nginx.conf", $nginxConf);
    if ($fastcgiParams !== '') {
        logline('HTTP: skipped: /etc/nginx/fastcgi_params not found');
        return ['skipped' => '/etc/nginx/fastcgi_params not found'];
    }

    $env = getenv();
    $start = function (string $name, array $cmd, string $log) use (&$httpProcs, $env) {
        $p = proc_open($cmd, [0 => ['file', '/dev/null', 'r'], 1 => ['file', $log, 'a'], 2 => ['file', $log, 'a']], $pipes, null, $env);
        if (!is_resource($p)) {
            throw new RuntimeException("cannot start $name");
        }
        $httpProcs[$name] = [$p, proc_get_status($p)['pid']];
    };
    try {
        $start('php-fpm', $fpmCmd, "$dir/fpm.out");
        $start('nginx', [...http_cpus('server'), $nginx, '-p', "$dir/", '-e', "$dir/nginx-error.log", '-c', "$dir/nginx.conf"], "$dir/nginx.out");
    } catch (\Throwable $e) {
        http_stop();
        return ['skipped' => $e->getMessage()];
    }
    $ready = false;
    for ($i = 0; $i < 100 && !$ready; $i++) {
        usleep(100000);
        $ready = port_open('127.0.0.1', $nginxPort) && count(array_filter($ports, fn ($p) => port_open('127.0.0.1', $p))) === count($ports);
    }
    if (!$ready) {
        $log = @file_get_contents("$dir/fpm.log") . @file_get_contents("$dir/fpm.out") . @file_get_contents("$dir/nginx-error.log");
        http_stop();
        logline('HTTP: nginx/php-fpm did not come up: ' . substr((string) $log, -500));
        return ['skipped' => 'nginx/php-fpm did not come up'];
    }
    logline(sprintf('HTTP: nginx on 127.0.0.1:%d, php-fpm pools (2 static workers each): %s', $nginxPort, implode(', ', $names)));

    $lua = "$root/bench/http/pool.lua";
    $wrkRun = function (string $n, int $secs) use ($wrk, $lua, $nginxPort): ?array {
        [$rc, $out, $err] = run_cmd([...http_cpus('client'), $wrk, '-c4', '-t2', "-d{$secs}s", '-s', $lua, "http://127.0.0.1:$nginxPort/c/$n"], null, $secs + 30);
        foreach (explode("\n", $out) as $l) {
            if (str_starts_with($l, '{"requests"')) {
                return json_decode($l, true);
            }
        }
        logline("  wrk $n failed: " . trim(substr($err . $out, 0, 300)));
        return null;
    };

    // Warm-up: creates the 1000 sessions of every pool, warms opcache and connections.
    foreach ($names as $n) {
        $w = $wrkRun($n, 1);
        if ($w !== null && $w['err_status'] > 0) {
            logline("  warm-up $n: {$w['err_status']} non-2xx answers");
        }
    }
    // The sessions must really be in the private Redis (a pool that silently fell back to another
    // handler would measure the wrong thing).
    $stored = [];
    foreach ($names as $n) {
        if ($n === 'none') {
            continue;
        }
        $cursor = '0';
        $count = 0;
        do {
            [$cursor, $keys] = $redis->cmd('SCAN', $cursor, 'MATCH', $ctx->prefix($n) . 'http*', 'COUNT', '1000');
            $count += count(array_filter($keys, fn ($k) => !str_ends_with($k, ':lock')));
        } while ($cursor !== '0');
        $stored[$n] = $count;
        if ($count < 1000) {
            logline("  HTTP $n: only $count of 1000 sessions found in Redis after the warm-up");
        }
    }
    $runs = [];
    for ($round = 1; $round <= $cfg['http_rounds']; $round++) {
        foreach ($names as $n) {
            $r = $wrkRun($n, $cfg['http_seconds']);
            $runs[$n][] = $r;
            if ($r !== null) {
                logline(sprintf('  HTTP round %d/%d %-20s %8.0f req/s  p50 %5d µs  p99 %6d µs%s', $round, $cfg['http_rounds'], $n,
                    $r['rps'], $r['p50_us'], $r['p99_us'], $r['err_status'] + $r['err_read'] + $r['err_timeout'] > 0
                        ? sprintf('  errors: %d status, %d read, %d timeout', $r['err_status'], $r['err_read'], $r['err_timeout']) : ''));
            }
        }
    }
    $fpmLog = trim((string) @file_get_contents("$dir/fpm.log"));
    http_stop();
    $out = ['contenders' => [], 'fpm_warnings' => [], 'sessions_stored' => $stored];
    foreach ($names as $n) {
        $ok = array_values(array_filter($runs[$n] ?? []));
        $out['contenders'][$n] = [
            'label' => $n === 'none' ? 'no session (baseline)' : $defs[$n]['label'],
            'rps' => median(array_column($ok, 'rps')),
            'p50_us' => median(array_column($ok, 'p50_us')),
            'p99_us' => median(array_column($ok, 'p99_us')),
            'errors' => array_sum(array_map(fn ($r) => $r['err_status'] + $r['err_read'] + $r['err_timeout'] + $r['err_connect'], $ok)),
            'runs' => $runs[$n] ?? [],
        ];
    }
    foreach (explode("\n", $fpmLog) as $l) {
        if (preg_match('/WARNING|ERROR|Fatal|Warning/', $l) && count($out['fpm_warnings']) < 10) {
            $out['fpm_warnings'][] = substr($l, 0, 300);
        }
    }
    return $out;
}
