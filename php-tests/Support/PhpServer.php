<?php

declare(strict_types=1);

namespace Cannon\Session\Tests\Support;

/**
 * `php -S` with the extension loaded, on a free loopback port, serving one document root; stopped
 * by its PID. PHP errors of the pages go to a log file that errors() returns.
 *
 *   $srv = PhpServer::start($docroot, ['SOME_ENV' => 'x'], workers: 4);
 *   $r = $srv->get('/path?x=1', 'name=value');   // ['status' => 200, 'headers' => [...], 'body' => '...']
 *   $srv->stop();
 */
final class PhpServer
{
    /** @param resource $proc */
    private function __construct(private $proc, public readonly int $port, private readonly string $dir)
    {
    }

    /**
     * @param array<string, string> $env     variables added to this process's environment
     * @param int                   $workers PHP_CLI_SERVER_WORKERS: requests served in parallel
     * @param array<string, string> $ini     extra -d settings
     */
    public static function start(string $docroot, array $env = [], int $workers = 1, array $ini = [], ?string $router = null): self
    {
        $dir = PhpProcess::tempDir('cannon-server-');
        $fullEnv = getenv();
        unset($fullEnv['PHP_CLI_SERVER_WORKERS']);
        if ($workers > 1) {
            $fullEnv['PHP_CLI_SERVER_WORKERS'] = (string) $workers;
        }
        foreach ($env as $k => $v) {
            $fullEnv[$k] = $v;
        }
        $settings = ['display_errors' => '0', 'log_errors' => '1', 'error_log' => "$dir/php-errors.log",
            'error_reporting' => '-1', 'html_errors' => '0'] + $ini;
        for ($attempt = 0; $attempt < 3; $attempt++) {
            $port = FreePort::get();
            $cmd = [PHP_BINARY, '-d', 'extension=' . Env::extPath()];
            foreach ($settings as $k => $v) {
                $cmd[] = '-d';
                $cmd[] = "$k=$v";
            }
            array_push($cmd, '-S', "127.0.0.1:$port", '-t', $docroot);
            if ($router !== null) {
                $cmd[] = $router;
            }
            $proc = proc_open($cmd, [0 => ['file', '/dev/null', 'r'], 1 => ['file', "$dir/server.out", 'w'],
                2 => ['file', "$dir/server.err", 'w']], $pipes, $docroot, $fullEnv);
            if (!is_resource($proc)) {
                throw new \RuntimeException('proc_open of php -S failed');
            }
            $deadline = microtime(true) + 5.0;
            while (microtime(true) < $deadline && proc_get_status($proc)['running']) {
                $sock = @stream_socket_client("tcp://127.0.0.1:$port", $errno, $errstr, 0.2);
                if ($sock !== false) {
                    fclose($sock);
                    return new self($proc, $port, $dir);
                }
                usleep(20000);
            }
            PhpProcess::kill($proc, 1.0);
            proc_close($proc);
        }
        $err = (string) @file_get_contents("$dir/server.err");
        PhpProcess::removeDir($dir);
        throw new \RuntimeException("php -S did not start: $err");
    }

    /** Whether $pid is still running (a zombie waiting to be reaped is not). */
    private static function running(int $pid): bool
    {
        $stat = @file_get_contents("/proc/$pid/stat");
        if ($stat === false || ($end = strrpos($stat, ')')) === false) {
            return false;
        }
        return !in_array(substr($stat, $end + 2, 1), ['Z', 'X'], true);
    }

    /** @return list<int> the PIDs whose parent is $parent (from /proc) */
    private static function childPids(int $parent): array
    {
        $pids = [];
        foreach (glob('/proc/[0-9]*/stat') ?: [] as $file) {
            $stat = @file_get_contents($file);
            // pid (comm) state ppid ...: comm may hold spaces, so split after its last ')'.
            if ($stat !== false && ($end = strrpos($stat, ')')) !== false) {
                $fields = explode(' ', trim(substr($stat, $end + 2)));
                if ((int) ($fields[1] ?? 0) === $parent) {
                    $pids[] = (int) $stat;
                }
            }
        }
        return $pids;
    }

    public function url(string $path): string
    {
        return "http://127.0.0.1:$this->port$path";
    }

    /**
     * One GET request (Connection: close).
     * @return array{status:int, headers:list<string>, body:string, seconds:float}
     */
    public function get(string $path, string $cookieHeader = '', float $timeout = 20): array
    {
        $headers = "Connection: close\r\n" . ($cookieHeader === '' ? '' : "Cookie: $cookieHeader\r\n");
        $ctx = stream_context_create(['http' => ['method' => 'GET', 'header' => $headers, 'timeout' => $timeout,
            'ignore_errors' => true, 'follow_location' => 0]]);
        $t0 = microtime(true);
        $http_response_header = [];
        $body = @file_get_contents($this->url($path), false, $ctx);
        $seconds = microtime(true) - $t0;
        if ($body === false) {
            throw new \RuntimeException("GET $path failed: " . (error_get_last()['message'] ?? '?') . "\n" . $this->errors());
        }
        $status = (int) (explode(' ', $http_response_header[0] ?? '')[1] ?? 0);
        return ['status' => $status, 'headers' => $http_response_header, 'body' => $body, 'seconds' => $seconds];
    }

    /**
     * $clients processes at once, each sending $each GETs of $path with $cookieHeader one after
     * the other (as browser tabs of one user would). Returns every response's status.
     * @return list<int>
     */
    public function hammer(string $path, string $cookieHeader, int $clients, int $each, float $timeoutSec = 60): array
    {
        $url = var_export($this->url($path), true);
        $header = var_export("Connection: close\r\nCookie: $cookieHeader\r\n", true);
        $code = <<<PHP
            \$ctx = stream_context_create(['http' => ['header' => $header, 'timeout' => 30, 'ignore_errors' => true]]);
            \$statuses = [];
            for (\$i = 0; \$i < $each; \$i++) {
                \$http_response_header = [];
                \$body = @file_get_contents($url, false, \$ctx);
                \$status = (int) (explode(' ', \$http_response_header[0] ?? '')[1] ?? 0);
                \$statuses[] = \$status;
                if (\$status !== 200) {
                    fwrite(STDERR, "\$status: " . substr((string) \$body, 0, 300) . "\\n");
                }
            }
            echo json_encode(\$statuses);
            PHP;
        $handles = [];
        for ($c = 0; $c < $clients; $c++) {
            $handles[] = PhpProcess::start($code);
        }
        $all = [];
        $problems = '';
        foreach ($handles as $h) {
            $r = PhpProcess::wait($h, $timeoutSec);
            $statuses = json_decode($r['stdout'], true);
            if ($r['timedOut'] || $r['exit'] !== 0 || !is_array($statuses)) {
                $problems .= "client exit {$r['exit']}" . ($r['timedOut'] ? ' (timed out)' : '') . ": {$r['stdout']} {$r['stderr']}\n";
                continue;
            }
            $problems .= $r['stderr'];
            array_push($all, ...$statuses);
        }
        if (count($all) !== $clients * $each) {
            throw new \RuntimeException("hammer $path: not every client finished:\n$problems" . $this->errors());
        }
        return $all;
    }

    /** What the pages wrote to the PHP error log so far. */
    public function errors(): string
    {
        return (string) @file_get_contents("$this->dir/php-errors.log");
    }

    public function stop(): string
    {
        $errors = $this->errors();
        if (is_resource($this->proc)) {
            // With PHP_CLI_SERVER_WORKERS the server forks its workers, which outlive a stopped
            // parent: stop them too, by their PIDs, taken before the parent goes.
            $workers = self::childPids((int) proc_get_status($this->proc)['pid']);
            foreach ($workers as $pid) {
                @posix_kill($pid, 15);
            }
            PhpProcess::kill($this->proc, 2.0);
            proc_close($this->proc);
            $deadline = microtime(true) + 2.0;
            while (($alive = array_filter($workers, self::running(...))) !== [] && microtime(true) < $deadline) {
                usleep(10000);
            }
            foreach ($alive as $pid) {
                @posix_kill($pid, 9);
            }
        }
        PhpProcess::removeDir($this->dir);
        return $errors;
    }
}
