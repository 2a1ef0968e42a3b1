<?php

declare(strict_types=1);

namespace Cannon\Session\Tests\Support;

/**
 * Backends that misbehave on purpose, and private Redis servers a test may kill, all on loopback.
 * Every process started here is killed at the latest when PHPUnit exits.
 *
 *   $hang = FakeServer::hangingTcp();            // accepts, never answers
 *   ... connect to 127.0.0.1:$hang['port'], expect a timeout ...
 *   FakeServer::stop($hang['pid']);
 *
 *   $redis = FakeServer::startRedis();           // ['port' => ..., 'pid' => ..., 'dir' => ...]
 *   ... redis://127.0.0.1:{$redis['port']}/0 ...
 *   FakeServer::stopRedis($redis);
 */
final class FakeServer
{
    /** @var array<int, array{proc: resource, dir: ?string}> */
    private static array $procs = [];
    private static bool $shutdownHooked = false;

    /**
     * A PHP CLI process listening on a free loopback port that accepts connections, holds them
     * open and never sends a byte. It exits by itself after $lifetimeSec.
     * @return array{port:int, pid:int}
     */
    public static function hangingTcp(int $lifetimeSec = 300): array
    {
        $code = <<<'PHP'
            $srv = stream_socket_server('tcp://127.0.0.1:0', $errno, $errstr);
            if ($srv === false) { fwrite(STDERR, "bind: $errstr\n"); exit(1); }
            $name = stream_socket_get_name($srv, false);
            fwrite(STDOUT, substr($name, strrpos($name, ':') + 1) . "\n");
            fclose(STDOUT);
            $held = [];
            $end = time() + (int) $argv[1];
            while (time() < $end) {
                $c = @stream_socket_accept($srv, 1);
                if ($c !== false) { $held[] = $c; }
            }
            PHP;
        $proc = proc_open(
            [PHP_BINARY, '-n', '-r', $code, (string) $lifetimeSec],
            [0 => ['file', '/dev/null', 'r'], 1 => ['pipe', 'w'], 2 => ['file', '/dev/null', 'w']],
            $pipes
        );
        if (!is_resource($proc)) {
            throw new \RuntimeException('proc_open failed for the hanging TCP server');
        }
        $pid = self::register($proc, null);

        $port = (int) trim(self::readLine($pipes[1], 5.0));
        fclose($pipes[1]);
        if ($port <= 0) {
            self::stop($pid);
            throw new \RuntimeException('the hanging TCP server did not report its port');
        }
        return ['port' => $port, 'pid' => $pid];
    }

    /**
     * A private redis-server on a free loopback port, in its own temporary directory, keeping
     * nothing on disk (--save "" --appendonly no) unless $extraArgs sets those. Waits for PONG.
     * @param list<string> $extraArgs e.g. ['--maxmemory', '1mb']
     * @param int $port a fixed port (e.g. to restart a stopped server where clients expect it); 0 = any free port
     * @return array{port:int, pid:int, dir:string}
     */
    public static function startRedis(array $extraArgs = [], int $port = 0): array
    {
        $bin = self::findBinary('redis-server');
        $defaults = [];
        if (!in_array('--save', $extraArgs, true)) {
            array_push($defaults, '--save', '');
        }
        if (!in_array('--appendonly', $extraArgs, true)) {
            array_push($defaults, '--appendonly', 'no');
        }

        $lastError = '';
        $fixedPort = $port;
        for ($attempt = 0; $attempt < 3; $attempt++) {
            $port = $fixedPort > 0 ? $fixedPort : FreePort::get();
            $dir = PhpProcess::tempDir('cannon-redis-');
            $cmd = array_merge(
                [$bin, '--port', (string) $port, '--bind', '127.0.0.1', '--dir', $dir,
                    '--daemonize', 'no', '--logfile', "$dir/redis.log"],
                $defaults,
                array_map('strval', $extraArgs)
            );
            $proc = proc_open(
                $cmd,
                [0 => ['file', '/dev/null', 'r'], 1 => ['file', "$dir/stdout", 'w'], 2 => ['file', "$dir/stderr", 'w']],
                $pipes,
                $dir
            );
            if (!is_resource($proc)) {
                PhpProcess::removeDir($dir);
                throw new \RuntimeException("proc_open of $bin failed");
            }
            $pid = self::register($proc, $dir);

            $deadline = microtime(true) + 10.0;
            while (microtime(true) < $deadline && proc_get_status($proc)['running']) {
                if (self::redisPong($port)) {
                    return ['port' => $port, 'pid' => $pid, 'dir' => $dir];
                }
                usleep(20000);
            }
            $lastError = trim((string) @file_get_contents("$dir/redis.log") . (string) @file_get_contents("$dir/stderr"));
            self::stop($pid);
        }
        throw new \RuntimeException("could not start a private redis-server: $lastError");
    }

    /** @param array{pid:int}|int $redis what startRedis() returned, or its pid */
    public static function stopRedis(array|int $redis): void
    {
        self::stop(is_array($redis) ? $redis['pid'] : $redis);
    }

    /** Kills a process started here (SIGTERM, then SIGKILL) and removes its directory. */
    public static function stop(int $pid): void
    {
        if (!isset(self::$procs[$pid])) {
            return;
        }
        ['proc' => $proc, 'dir' => $dir] = self::$procs[$pid];
        unset(self::$procs[$pid]);
        PhpProcess::kill($proc, 2.0);
        proc_close($proc);
        if ($dir !== null) {
            PhpProcess::removeDir($dir);
        }
    }

    /** True when something on 127.0.0.1:$port answers a Redis PING (+PONG, or -NOAUTH) within $timeoutSec. */
    public static function redisPong(int $port, float $timeoutSec = 1.0): bool
    {
        $sock = @stream_socket_client("tcp://127.0.0.1:$port", $errno, $errstr, $timeoutSec);
        if ($sock === false) {
            return false;
        }
        stream_set_timeout($sock, (int) $timeoutSec, (int) (fmod($timeoutSec, 1.0) * 1e6));
        fwrite($sock, "PING\r\n");
        $line = fgets($sock);
        fclose($sock);
        // A server started with --requirepass answers -NOAUTH: it is up all the same.
        return $line !== false && (rtrim($line) === '+PONG' || str_starts_with($line, '-NOAUTH'));
    }

    private static function findBinary(string $name): string
    {
        foreach (array_merge(explode(PATH_SEPARATOR, (string) getenv('PATH')), ['/usr/bin', '/usr/sbin', '/usr/local/bin']) as $d) {
            if ($d !== '' && is_file("$d/$name") && is_executable("$d/$name")) {
                return "$d/$name";
            }
        }
        throw new \RuntimeException("$name not found (scripts/deps.sh installs it)");
    }

    /** @param resource $pipe */
    private static function readLine($pipe, float $timeoutSec): string
    {
        stream_set_blocking($pipe, false);
        $buf = '';
        $deadline = microtime(true) + $timeoutSec;
        while (!str_contains($buf, "\n") && !feof($pipe) && ($left = $deadline - microtime(true)) > 0) {
            $r = [$pipe];
            $w = $e = null;
            if (@stream_select($r, $w, $e, 0, (int) min(100000, $left * 1e6)) > 0) {
                $buf .= (string) fread($pipe, 256);
            }
        }
        return $buf;
    }

    /** @param resource $proc */
    private static function register($proc, ?string $dir): int
    {
        $pid = (int) proc_get_status($proc)['pid'];
        self::$procs[$pid] = ['proc' => $proc, 'dir' => $dir];
        if (!self::$shutdownHooked) {
            self::$shutdownHooked = true;
            register_shutdown_function(static function (): void {
                foreach (array_keys(self::$procs) as $pid) {
                    self::stop($pid);
                }
            });
        }
        return $pid;
    }
}
