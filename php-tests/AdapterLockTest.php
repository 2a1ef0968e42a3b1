<?php

declare(strict_types=1);

namespace Cannon\Session\Tests;

use Cannon\Session\Tests\Support\Env;
use Cannon\Session\Tests\Support\PhpProcess;
use PHPUnit\Framework\TestCase;

/**
 * The seed's `$session->adapter->write($session->getId(), $session->data)` in the middle of a
 * request keeps the Session's lock: a second request on the same session waits for the first's
 * close() instead of slipping in between and having its change overwritten.
 */
final class AdapterLockTest extends TestCase
{
    /** @return array<string, array{string}> */
    public static function backends(): array
    {
        $table = 'cs_adapterlock_' . getmypid();
        return [
            'redis' => [Env::redisDsn() . (str_contains(Env::redisDsn(), '?') ? '&' : '?') . 'prefix=adapterlock_' . getmypid() . ':'],
            'database' => [Env::mysqlDsn() . '?table=' . $table . '&auto_create=1'],
        ];
    }

    public static function tearDownAfterClass(): void
    {
        $p = Env::mysqlParts();
        $db = new \mysqli($p['host'], $p['user'], $p['pass'], $p['db'], $p['port']);
        $db->query('DROP TABLE IF EXISTS `cs_adapterlock_' . getmypid() . '`');
        $db->close();
    }

    /** @dataProvider backends */
    public function testAMidRequestAdapterWriteKeepsTheLock(string $dsn): void
    {
        $request = <<<'PHP'
            $s = new Cannon\Session\Session(['session_dsn' => $argv[1], 'session_cookie' => false]);
            $s->start($argv[2]);
            $s->data['n'] = ($s->data['n'] ?? 0) + 1;
            if ($argv[3] === 'A') {
                $s->adapter->write($s->getId(), $s->data);
                usleep(400000);
                $s->data['x'] = true;
            }
            $s->close();
            echo $s->getId();
            PHP;
        // A session unknown to the store gets a fresh id (no fixation): seed one, use its id.
        $seed = PhpProcess::run(str_replace(['$argv[1]', '$argv[2]', '$argv[3]'], [var_export($dsn, true), 'null', "'seed'"], $request));
        $this->assertSame(0, $seed['exit'], $seed['stderr']);
        $id = trim($seed['stdout']);

        $code = fn (string $who) => str_replace(['$argv[1]', '$argv[2]', '$argv[3]'], [var_export($dsn, true), var_export($id, true), var_export($who, true)], $request);
        $a = PhpProcess::start($code('A'));
        usleep(150000);
        $b = PhpProcess::start($code('B'));
        $ra = PhpProcess::wait($a, 20);
        $rb = PhpProcess::wait($b, 20);
        $this->assertSame(0, $ra['exit'], $ra['stderr']);
        $this->assertSame(0, $rb['exit'], $rb['stderr']);
        $this->assertSame('', $ra['stderr'] . $rb['stderr']);

        $final = PhpProcess::run(str_replace(['$argv[1]', '$argv[2]'], [var_export($dsn, true), var_export($id, true)], 'echo json_encode((new Cannon\Session\Adapter($argv[1]))->read($argv[2]));'));
        $this->assertSame(['n' => 3, 'x' => true], json_decode($final['stdout'], true), 'an update was lost: ' . $final['stdout'] . $final['stderr']);
    }
}
