<?php

declare(strict_types=1);

namespace Cannon\Session\Tests\Support;

/**
 * Runs PHP code in a separate `php -d extension=<CANNON_EXT>` process, bounded in time: for
 * behaviour across processes (a session written by one process and read by another, locks, what
 * happens at request shutdown, fatal errors that would kill PHPUnit itself).
 *
 *   $r = PhpProcess::run('echo ini_get("session.save_handler");', ['session.save_handler' => 'cannon']);
 *   // $r = ['exit' => 0, 'stdout' => 'cannon', 'stderr' => '', 'timedOut' => false]
 *
 * Errors are shown on stderr (display_errors=stderr, error_reporting=-1) unless $ini says otherwise.
 * A process still running after $timeoutSec is killed: exit 124 and timedOut = true. A process
 * killed by a signal reports exit 128 + signal.
 * start() + wait() run several at once.
 */
final class PhpProcess
{
    /** @var array<int, array{proc: resource, dir: string}> live children by pid */
    private static array $live = [];
    private static bool $shutdownHooked = false;

    /**
     * @param array<string|int, string|int|bool> $ini    ['name' => value] (or 'name=value' items)
     * @param array<string, string|null>|null     $env    variables to set (null: unset) on top of ours
     * @return array{exit:int, stdout:string, stderr:string, timedOut:bool}
     */
    public static function run(string $code, array $ini = [], ?string $stdin = null, float $timeoutSec = 20, ?array $env = null): array
    {
        return self::wait(self::start($code, $ini, $stdin, $env), $timeoutSec);
    }

    /**
     * Starts the process and returns at once; collect it with wait().
     * @return array{pid:int, proc:resource, dir:string}
     */
    public static function start(string $code, array $ini = [], ?string $stdin = null, ?array $env = null): array
    {
        $dir = self::tempDir();
        if (!str_starts_with(ltrim($code), '<?php')) {
            $code = "<?php\n" . $code;
        }
        file_put_contents("$dir/script.php", $code);
        file_put_contents("$dir/stdin", $stdin ?? '');

        $settings = ['display_errors' => 'stderr', 'log_errors' => '0', 'error_reporting' => '-1', 'html_errors' => '0'];
        foreach ($ini as $k => $v) {
            if (is_int($k)) {
                [$k, $v] = explode('=', (string) $v, 2) + [1 => ''];
            }
            $settings[$k] = is_bool($v) ? ($v ? '1' : '0') : (string) $v;
        }
        $cmd = [PHP_BINARY, '-d', 'extension=' . Env::extPath()];
        foreach ($settings as $k => $v) {
            $cmd[] = '-d';
            $cmd[] = "$k=$v";
        }
        $cmd[] = "$dir/script.php";

        $childEnv = null;
        if ($env !== null) {
            $childEnv = getenv();
            foreach ($env as $k => $v) {
                if ($v === null) {
                    unset($childEnv[$k]);
                } else {
                    $childEnv[$k] = $v;
                }
            }
        }

        $proc = proc_open(
            $cmd,
            [0 => ['file', "$dir/stdin", 'r'], 1 => ['file', "$dir/stdout", 'w'], 2 => ['file', "$dir/stderr", 'w']],
            $pipes,
            $dir,
            $childEnv
        );
        if (!is_resource($proc)) {
            self::removeDir($dir);
            throw new \RuntimeException('proc_open of ' . PHP_BINARY . ' failed');
        }
        $pid = (int) proc_get_status($proc)['pid'];
        self::$live[$pid] = ['proc' => $proc, 'dir' => $dir];
        self::hookShutdown();
        return ['pid' => $pid, 'proc' => $proc, 'dir' => $dir];
    }

    /**
     * Waits for a process from start(), killing it after $timeoutSec.
     * @param array{pid:int, proc:resource, dir:string} $handle
     * @return array{exit:int, stdout:string, stderr:string, timedOut:bool}
     */
    public static function wait(array $handle, float $timeoutSec = 20): array
    {
        $proc = $handle['proc'];
        $deadline = microtime(true) + $timeoutSec;
        $timedOut = false;
        while (true) {
            $st = proc_get_status($proc);
            if (!$st['running']) {
                $exit = $st['signaled'] ? 128 + $st['termsig'] : $st['exitcode'];
                break;
            }
            if (microtime(true) >= $deadline) {
                $timedOut = true;
                self::kill($proc);
                $exit = 124;
                break;
            }
            usleep(5000);
        }
        proc_close($proc);
        unset(self::$live[$handle['pid']]);

        $result = [
            'exit' => $exit,
            'stdout' => (string) @file_get_contents($handle['dir'] . '/stdout'),
            'stderr' => self::withoutStartupDeprecations((string) @file_get_contents($handle['dir'] . '/stderr')),
            'timedOut' => $timedOut,
        ];
        self::removeDir($handle['dir']);
        return $result;
    }

    /**
     * PHP 8.4 deprecates session INI settings that children are still started with on purpose
     * (a sid_length the extension must follow; no cookies in the CLI), and says so once at
     * start-up. Those exact lines are PHP's, not the child's diagnostics: they are dropped.
     * Everything else on stderr stays, deprecations included.
     */
    private static function withoutStartupDeprecations(string $stderr): string
    {
        if (PHP_VERSION_ID < 80400 || $stderr === '') {
            return $stderr;
        }
        return (string) preg_replace(
            '/^(?:PHP )?Deprecated: +PHP Startup: (?:session\.sid_length|session\.sid_bits_per_character'
            . '|Disabling session\.use_only_cookies) INI setting is deprecated in Unknown on line 0\R/m',
            '',
            $stderr
        );
    }

    /** @param resource $proc */
    public static function kill($proc, float $graceSec = 1.0): void
    {
        if (!proc_get_status($proc)['running']) {
            return;
        }
        proc_terminate($proc, 15);
        $deadline = microtime(true) + $graceSec;
        while (proc_get_status($proc)['running'] && microtime(true) < $deadline) {
            usleep(5000);
        }
        if (proc_get_status($proc)['running']) {
            proc_terminate($proc, 9);
            $deadline = microtime(true) + 5.0;
            while (proc_get_status($proc)['running'] && microtime(true) < $deadline) {
                usleep(5000);
            }
        }
    }

    public static function tempDir(string $prefix = 'cannon-test-'): string
    {
        for ($i = 0; $i < 10; $i++) {
            $dir = sys_get_temp_dir() . '/' . $prefix . bin2hex(random_bytes(6));
            if (@mkdir($dir, 0700)) {
                return $dir;
            }
        }
        throw new \RuntimeException('cannot create a temporary directory in ' . sys_get_temp_dir());
    }

    /** Copies the directory tree $from into the existing directory $to. */
    public static function copyTree(string $from, string $to): void
    {
        foreach (scandir($from) ?: [] as $entry) {
            if ($entry === '.' || $entry === '..') {
                continue;
            }
            if (is_dir("$from/$entry")) {
                mkdir("$to/$entry", 0700);
                self::copyTree("$from/$entry", "$to/$entry");
            } elseif (!copy("$from/$entry", "$to/$entry")) {
                throw new \RuntimeException("cannot copy $from/$entry");
            }
        }
    }

    public static function removeDir(string $dir): void
    {
        if (!is_dir($dir) || is_link($dir)) {
            return;
        }
        foreach (scandir($dir) ?: [] as $entry) {
            if ($entry === '.' || $entry === '..') {
                continue;
            }
            $path = "$dir/$entry";
            is_dir($path) && !is_link($path) ? self::removeDir($path) : @unlink($path);
        }
        @rmdir($dir);
    }

    private static function hookShutdown(): void
    {
        if (self::$shutdownHooked) {
            return;
        }
        self::$shutdownHooked = true;
        register_shutdown_function(static function (): void {
            foreach (self::$live as $pid => $child) {
                self::kill($child['proc'], 0.2);
                proc_close($child['proc']);
                self::removeDir($child['dir']);
                unset(self::$live[$pid]);
            }
        });
    }
}
