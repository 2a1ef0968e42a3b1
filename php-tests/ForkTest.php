<?php

declare(strict_types=1);

namespace Cannon\Session\Tests;

use Cannon\Session\Tests\Support\Env;
use Cannon\Session\Tests\Support\PhpProcess;
use PHPUnit\Framework\TestCase;

/**
 * php-fpm forks its workers from a process that may already have used the extension. A
 * connection inherited across fork() must never be shared: parent and child each run session
 * cycles at the same time on their own connections, and every read sees what that process wrote.
 */
final class ForkTest extends TestCase
{
    public function testParentAndChildNeverShareAConnection(): void
    {
        if (!function_exists('pcntl_fork')) {
            $this->markTestSkipped('pcntl is not available');
        }
        $dsn = Env::redisDsn() . (str_contains(Env::redisDsn(), '?') ? '&' : '?') . 'prefix=forktest_' . getmypid() . ':';
        $code = <<<'PHP'
            $dsn = $argv[1] ?? DSN;
            $h = new Cannon\Session\RedisHandler($dsn);
            $ids = [];
            foreach (['parent', 'child'] as $who) {
                $ids[$who] = $h->create_sid();
                $h->write($ids[$who], serialize(['who' => $who, 'n' => 0]));
            }
            $before = Cannon\Session\stats()['connections'];
            $pid = pcntl_fork();
            $me = $pid === 0 ? 'child' : 'parent';
            $bad = 0;
            for ($i = 1; $i <= 300; $i++) {
                $got = unserialize($h->read($ids[$me]));
                if ($got !== ['who' => $me, 'n' => $i - 1]) { $bad++; }
                $h->write($ids[$me], serialize(['who' => $me, 'n' => $i]));
                $h->close();
            }
            if ($pid === 0) { exit($bad === 0 ? 0 : 10); }
            pcntl_waitpid($pid, $status);
            echo json_encode(['parent_bad' => $bad, 'child_exit' => pcntl_wexitstatus($status), 'before' => $before]);
            PHP;
        $r = PhpProcess::run(str_replace('DSN', var_export($dsn, true), $code), [], null, 60);
        $this->assertSame(0, $r['exit'], $r['stderr']);
        $out = json_decode($r['stdout'], true);
        $this->assertSame(1, $out['before'], 'the parent had a connection before the fork');
        $this->assertSame(0, $out['parent_bad'], 'the parent read something it did not write');
        $this->assertSame(0, $out['child_exit'], 'the child read something it did not write');
    }
}
