<?php

declare(strict_types=1);

namespace Cannon\Session\Tests;

use Cannon\Session\Tests\DatabaseFixtures\DatabaseTestCase;
use Cannon\Session\Tests\DatabaseFixtures\Db;
use Cannon\Session\Tests\DatabaseFixtures\DbChild;
use Cannon\Session\Tests\Support\Env;
use Cannon\Session\Tests\Support\FakeServer;
use Cannon\Session\Tests\Support\FreePort;
use Cannon\Session\Tests\Support\PhpProcess;

require_once __DIR__ . '/fixtures/database/DatabaseTestCase.php';

/**
 * Sessions in MariaDB through PHP's session module, across processes, once with the native
 * handler (session.save_handler=cannon, a mysql:// save path) and once with
 * Cannon\Session\DatabaseHandler: every test runs for both (data provider "modes"). The rows are
 * checked behind the extension's back with PDO as the test user.
 */
final class DatabaseHandlerTest extends DatabaseTestCase
{
    /** Classes and values every round-trip child defines; both sides must know the classes. */
    private const TYPES_PRELUDE = <<<'PHP'
        enum DbSuit: string { case Hearts = 'h'; case Spades = 's'; }
        final class DbPoint
        {
            public function __construct(public int $x = 0, public ?DbPoint $next = null, private string $secret = 'p')
            {
            }
        }
        $all256 = '';
        for ($i = 0; $i < 256; $i++) {
            $all256 .= chr($i);
        }

        PHP;

    protected static function tableTag(): string
    {
        return 'handler';
    }

    public function modes(): array
    {
        return DbChild::modes();
    }

    private function dsn(array $opts = []): string
    {
        return Db::dsn(self::table(), $opts);
    }

    private function child(string $mode, string $body, array $ini = [], array $opts = []): array
    {
        return DbChild::run($mode, $this->dsn($opts), $body, $ini);
    }

    /** Runs a child that must succeed silently; returns what it reported. */
    private function ok(string $mode, string $body, array $ini = [], array $opts = []): mixed
    {
        $r = $this->child($mode, $body, $ini, $opts);
        self::assertChildOk($r);
        return $r['out'];
    }

    /** Stores $data (PHP code for an array) under $id from a child of its own. */
    private function store(string $mode, string $id, string $dataCode, array $ini = []): void
    {
        $this->ok($mode, self::vars(['id' => $id]) . <<<PHP
            session_id(\$id);
            if (!session_start()) { exit(2); }
            \$_SESSION = $dataCode;
            if (!session_write_close()) { exit(3); }
            PHP, $ini);
    }

    /** What a fresh child sees in $_SESSION for $id. */
    private function load(string $mode, string $id, array $ini = []): array
    {
        return $this->ok($mode, self::vars(['id' => $id]) . <<<'PHP'
            session_id($id);
            if (!session_start()) { exit(2); }
            out($_SESSION);
            session_abort();
            PHP, $ini);
    }

    // ---- round trips ---------------------------------------------------------------------------

    /** @dataProvider modes */
    public function testEveryPhpTypeSurvivesAcrossProcesses(string $mode): void
    {
        $id = self::newId();
        $written = $this->ok($mode, self::TYPES_PRELUDE . self::vars(['id' => $id]) . <<<'PHP'
            session_id($id);
            session_start();
            $loop = new DbPoint(1);
            $loop->next = $loop;
            $_SESSION['null'] = null;
            $_SESSION['true'] = true;
            $_SESSION['false'] = false;
            $_SESSION['max'] = PHP_INT_MAX;
            $_SESSION['min'] = PHP_INT_MIN;
            $_SESSION['float'] = 0.1 + 0.2;
            $_SESSION['tiny'] = 5e-324;
            $_SESSION['nan'] = NAN;
            $_SESSION['inf'] = -INF;
            $_SESSION['negzero'] = -0.0;
            $_SESSION['utf8'] = "h\u{e9}llo \u{1F600}";
            $_SESSION['all256'] = $all256;
            $_SESSION['nul'] = "\0";
            $_SESSION['empty'] = '';
            $_SESSION['numeric'] = '0123';
            $_SESSION['nested'] = [1, [2, [3, []]], 'k' => ['a' => null]];
            $_SESSION['mixedkeys'] = [5 => 'five', '6' => 'six', '-7' => 'minus', 'x' => 'y'];
            $_SESSION['object'] = $loop;
            $_SESSION['sameobject'] = $loop;
            $_SESSION['std'] = (object) ['a' => 1, 'b' => [2]];
            $_SESSION['enum'] = DbSuit::Spades;
            $_SESSION['arrayobject'] = new ArrayObject([1, 2, 3]);
            $_SESSION['ref'] = &$_SESSION['nested'];
            $expected = serialize($_SESSION);
            $encoded = session_encode();
            if (!session_write_close()) { exit(3); }
            out(['serialized' => $expected, 'encoded' => $encoded]);
            PHP);

        $row = Db::row(self::table(), $id);
        self::assertNotNull($row, 'no row was written');
        self::assertSame($written['encoded'], $row['data'], 'the row holds exactly the encoded session');

        $read = $this->ok($mode, self::TYPES_PRELUDE . self::vars(['id' => $id]) . <<<'PHP'
            session_id($id);
            session_start();
            $ok = $_SESSION['all256'] === $all256 && $_SESSION['object']->next === $_SESSION['object']
                && $_SESSION['sameobject'] === $_SESSION['object'] && $_SESSION['enum'] === DbSuit::Spades
                && is_nan($_SESSION['nan']) && fdiv(1, $_SESSION['negzero']) === -INF;
            $_SESSION['ref'][] = 'through the reference';
            $refKept = end($_SESSION['nested']) === 'through the reference';
            array_pop($_SESSION['ref']);
            out(['serialized' => serialize($_SESSION), 'ok' => $ok, 'refKept' => $refKept]);
            session_abort();
            PHP);
        self::assertSame($written['serialized'], $read['serialized']);
        self::assertTrue($read['ok'], 'bytes, object identity, enums, NAN or -0.0 did not survive');
        self::assertTrue($read['refKept'], 'the reference between two entries did not survive');
    }

    /** @dataProvider modes */
    public function testEightMegabyteSessionAcrossProcesses(string $mode): void
    {
        $id = self::newId();
        $ini = ['memory_limit' => '512M'];
        $written = $this->ok($mode, self::vars(['id' => $id]) . <<<'PHP'
            session_id($id);
            session_start();
            $big = random_bytes(8 << 20);
            $_SESSION['big'] = $big;
            $_SESSION['after'] = 'still here';
            if (!session_write_close()) { exit(3); }
            out(['sha1' => sha1($big), 'len' => strlen($big)]);
            PHP, $ini);
        self::assertSame(8 << 20, $written['len']);

        $st = Db::pdo()->prepare('SELECT LENGTH(data) FROM `' . self::table() . '` WHERE session_id = ?');
        $st->execute([$id]);
        self::assertGreaterThan(8 << 20, (int) $st->fetchColumn());

        $read = $this->ok($mode, self::vars(['id' => $id]) . <<<'PHP'
            session_id($id);
            session_start();
            out(['sha1' => sha1($_SESSION['big']), 'len' => strlen($_SESSION['big']), 'after' => $_SESSION['after']]);
            session_abort();
            PHP, $ini);
        self::assertSame($written['sha1'], $read['sha1']);
        self::assertSame(8 << 20, $read['len']);
        self::assertSame('still here', $read['after']);
    }

    /** @dataProvider modes */
    public function testPayloadOverMaxSizeIsRefusedAndTheOldDataKept(string $mode): void
    {
        $id = self::newId();
        $opts = ['max_size' => 4096];
        $this->ok($mode, self::vars(['id' => $id]) . <<<'PHP'
            session_id($id);
            session_start();
            $_SESSION['v'] = 'small';
            session_write_close() || exit(3);
            PHP, [], $opts);
        $out = $this->ok($mode, self::vars(['id' => $id]) . <<<'PHP'
            session_id($id);
            session_start();
            $_SESSION['v'] = str_repeat('x', 10000);
            out(attempt(fn () => session_write_close()));
            PHP, [], $opts);
        if ($mode === DbChild::NATIVE) {
            // PHP 8.2's session_write_close() returns true even when the handler's write failed
            // (php_session_flush ignores the result): the warning is all the caller gets.
            self::assertTrue($out['ok']);
            self::assertStringContainsString('Failed to write session data', implode("\n", $out['warnings']));
            $out['ok'] = false;
        }
        self::assertFailedCleanly($mode, $out, 'Cannon\Session\SessionException', ['max_size']);
        self::assertSame('v|s:5:"small";', Db::row(self::table(), $id)['data'] ?? null);
    }

    // ---- destroy, regenerate, strict mode ------------------------------------------------------

    /** @dataProvider modes */
    public function testDestroyDeletesTheRow(string $mode): void
    {
        $id = self::newId();
        $this->store($mode, $id, "['user' => 42]");
        self::assertSame(1, Db::count(self::table(), $id));

        $out = $this->ok($mode, self::vars(['id' => $id]) . <<<'PHP'
            session_id($id);
            session_start();
            $seen = $_SESSION;
            out(['seen' => $seen, 'destroyed' => session_destroy()]);
            PHP);
        self::assertSame(['user' => 42], $out['seen']);
        self::assertTrue($out['destroyed']);
        self::assertSame(0, Db::count(self::table(), $id));
        self::assertSame([], $this->load($mode, $id));
    }

    public function regenerateCases(): array
    {
        $cases = [];
        foreach (DbChild::modes() as $name => [$mode]) {
            $cases["$name, delete old"] = [$mode, true];
            $cases["$name, keep old"] = [$mode, false];
        }
        return $cases;
    }

    /** @dataProvider regenerateCases */
    public function testRegenerateId(string $mode, bool $deleteOld): void
    {
        $old = self::newId();
        $this->store($mode, $old, "['before' => 1]");

        $new = $this->ok($mode, self::vars(['id' => $old, 'delete' => $deleteOld]) . <<<'PHP'
            session_id($id);
            session_start();
            session_regenerate_id($delete) || exit(4);
            $_SESSION['after'] = 2;
            $new = session_id();
            session_write_close() || exit(3);
            out($new);
            PHP);
        self::assertIsString($new);
        self::assertNotSame($old, $new);
        self::assertMatchesRegularExpression('/^[A-Za-z0-9,-]{26}$/', $new);

        self::assertSame('before|i:1;after|i:2;', Db::row(self::table(), $new)['data'] ?? null);
        self::assertSame(['before' => 1, 'after' => 2], $this->load($mode, $new));
        if ($deleteOld) {
            self::assertSame(0, Db::count(self::table(), $old), 'the old session must be gone');
            self::assertSame([], $this->load($mode, $old));
        } else {
            self::assertSame('before|i:1;', Db::row(self::table(), $old)['data'] ?? null, 'the old session keeps its data');
            self::assertSame(['before' => 1], $this->load($mode, $old));
        }
    }

    /** @dataProvider modes */
    public function testStrictModeReplacesUnknownAndExpiredIds(string $mode): void
    {
        $known = self::newId('Known');
        $unknown = self::newId('Unknown');
        $expired = self::newId('Expired');
        $this->store($mode, $known, "['k' => 'v']");
        Db::pdo()->prepare('INSERT INTO `' . self::table() . '` (session_id, data, last_activity, expires_at) VALUES (?, ?, NOW(), UNIX_TIMESTAMP() - 5)')
            ->execute([$expired, 'old|i:1;']);

        $out = $this->ok($mode, self::vars(compact('known', 'unknown', 'expired')) . <<<'PHP'
            $r = [];
            foreach (['unknown' => $unknown, 'expired' => $expired, 'known' => $known] as $what => $id) {
                session_id($id);
                session_start() || exit(2);
                $r[$what] = ['id' => session_id(), 'data' => $_SESSION];
                $_SESSION['touched'] = $what;
                session_write_close() || exit(3);
            }
            out($r);
            PHP, ['session.use_strict_mode' => '1']);

        foreach (['unknown' => $unknown, 'expired' => $expired] as $what => $id) {
            self::assertNotSame($id, $out[$what]['id'], "strict mode adopted the $what id");
            self::assertMatchesRegularExpression('/^[A-Za-z0-9,-]{26}$/', $out[$what]['id']);
            self::assertSame([], $out[$what]['data']);
            self::assertSame("touched|s:" . strlen($what) . ":\"$what\";", Db::row(self::table(), $out[$what]['id'])['data'] ?? null);
        }
        self::assertSame(0, Db::count(self::table(), $unknown), 'a row was created for the unknown id');
        $row = Db::row(self::table(), $expired);
        self::assertSame('old|i:1;', $row['data'] ?? null, 'the expired row was revived or rewritten');
        self::assertLessThanOrEqual($row['now'], $row['expires_at']);
        self::assertSame($known, $out['known']['id']);
        self::assertSame(['k' => 'v'], $out['known']['data']);
    }

    /**
     * Strict mode reads the data while validating the id and hands it to the read that follows:
     * a known id costs the same round trips with and without it.
     */
    public function testStrictModeCostsNoExtraRoundTrip(): void
    {
        $id = self::newId();
        $this->store(DbChild::CLASS_API, $id, "['k' => 1]");
        $body = self::vars(['id' => $id]) . <<<'PHP'
            $cost = [];
            foreach ([0, 1] as $strict) {
                ini_set('session.use_strict_mode', (string) $strict);
                for ($i = 0; $i < 2; $i++) { // the first cycle also checks the table once
                    $before = $h->roundTrips();
                    session_id($id);
                    session_start() || exit(2);
                    session_id() === $id || exit(4);
                    $_SESSION['k']++;
                    session_write_close() || exit(3);
                    $cost[$strict] = $h->roundTrips() - $before;
                }
            }
            out($cost);
            PHP;
        $cost = $this->ok(DbChild::CLASS_API, $body);
        self::assertSame($cost[0], $cost[1], 'round trips of a locked read + write, without and with strict mode');
        // Two multi-statements (GET_LOCK + SELECT, then upsert + RELEASE_LOCK), or with a server
        // as near as this machine's usually is, the same four statements prepared (README, Locking).
        self::assertContains($cost[0], [2, 4], 'a locked cycle');
    }

    // ---- lazy write, expiry, gc ------------------------------------------------------------------

    /** @dataProvider modes */
    public function testLazyWriteOnlyRefreshesTheExpiry(string $mode): void
    {
        $id = self::newId();
        $this->store($mode, $id, "['k' => 'v']", ['session.gc_maxlifetime' => '100']);
        $before = Db::row(self::table(), $id);
        self::assertSame('k|s:1:"v";', $before['data']);
        self::assertEqualsWithDelta($before['now'] + 100, $before['expires_at'], 2);

        // The child changes the row's data behind the handler's back while the session is open
        // and unchanged: a lazy write must leave that alone and only move expires_at.
        $body = self::vars(['id' => $id, 'table' => self::table()]) . <<<'PHP'
            session_id($id);
            session_start() || exit(2);
            $seen = $_SESSION;
            db()->prepare("UPDATE `$table` SET data = ? WHERE session_id = ?")->execute(['k|s:8:"tampered";', $id]);
            out(['seen' => $seen, 'closed' => session_write_close()]);
            PHP;
        $out = $this->ok($mode, $body, ['session.gc_maxlifetime' => '5000']);
        self::assertSame(['k' => 'v'], $out['seen']);
        self::assertTrue($out['closed']);
        $after = Db::row(self::table(), $id);
        self::assertSame('k|s:8:"tampered";', $after['data'], 'an unchanged session was written, not touched');
        self::assertEqualsWithDelta($after['now'] + 5000, $after['expires_at'], 2, 'expires_at was not refreshed');

        // Control: with lazy_write off the same request writes its data back over the change.
        Db::pdo()->prepare('UPDATE `' . self::table() . '` SET data = ? WHERE session_id = ?')->execute(['k|s:1:"v";', $id]);
        $out = $this->ok($mode, $body, ['session.gc_maxlifetime' => '5000', 'session.lazy_write' => '0']);
        self::assertSame(['k' => 'v'], $out['seen']);
        self::assertSame('k|s:1:"v";', Db::row(self::table(), $id)['data']);
    }

    /** @dataProvider modes */
    public function testExpiredSessionReadsEmptyBeforeGc(string $mode): void
    {
        $id = self::newId();
        $this->store($mode, $id, "['k' => 'v']", ['session.gc_maxlifetime' => '1']);
        self::assertSame(1, Db::count(self::table(), $id));
        sleep(2);

        // session_abort(): a request that closed would write the (empty) session, a new one.
        self::assertSame([], $this->load($mode, $id), 'an expired session was read');
        $row = Db::row(self::table(), $id);
        self::assertNotNull($row, 'the expired row must stay until gc');
        self::assertSame('k|s:1:"v";', $row['data']);
        self::assertLessThanOrEqual($row['now'], $row['expires_at'], 'the empty lazy write revived the expired row');

        $gc = $this->ok($mode, <<<'PHP'
            session_start() || exit(2);
            $n = session_gc();
            session_abort();
            out($n);
            PHP);
        self::assertSame(1, $gc);
        self::assertSame(0, Db::count(self::table(), $id));
    }

    /** @dataProvider modes */
    public function testGcReturnsTheExactNumberOfRowsDeleted(string $mode): void
    {
        $expired = 2345; // more than one gc batch of 1000
        $live = 7;
        $values = [];
        for ($i = 0; $i < $expired + $live; $i++) {
            $ttl = $i < $expired ? '- 10' : '+ 1000';
            $values[] = sprintf("('GcRow%06d', 'x|i:1;', NOW(), UNIX_TIMESTAMP() %s)", $i, $ttl);
        }
        Db::pdo()->exec('INSERT INTO `' . self::table() . '` (session_id, data, last_activity, expires_at) VALUES ' . implode(',', $values));

        $out = $this->ok($mode, <<<'PHP'
            session_start() || exit(2);
            $first = session_gc();
            $second = session_gc();
            session_abort();
            out([$first, $second]);
            PHP);
        self::assertSame([$expired, 0], $out);
        self::assertSame($live, Db::count(self::table()));

        // PHP's own gc run at session_start() (probability 1/1) goes through the same path.
        Db::pdo()->exec("UPDATE `" . self::table() . "` SET expires_at = UNIX_TIMESTAMP() - 1 WHERE session_id <= 'GcRow002347'");
        $id = self::newId();
        $this->store($mode, $id, "['k' => 1]", ['session.gc_probability' => '1', 'session.gc_divisor' => '1']);
        self::assertEqualsCanonicalizing(['GcRow002348', 'GcRow002349', 'GcRow002350', 'GcRow002351', $id], Db::ids(self::table()));
    }

    // ---- ids -------------------------------------------------------------------------------------

    /** @return list<string> */
    private static function hostileIds(): array
    {
        return [
            '../../etc/passwd', "a'b", "x\0y", "\u{e9}t\u{e9}", str_repeat('a', 257), 'id; DROP TABLE x',
            'A B', "abc\n", '<script>', 'ab%00cd', 'id*', "Robert'); DROP TABLE students;--", '`id`',
            "\xff\xfe", 'id\\', '',
        ];
    }

    /** @dataProvider modes */
    public function testHostileIdsNeverBecomeRows(string $mode): void
    {
        $bad = self::hostileIds();
        $body = self::vars(['bad' => $bad]) . <<<'PHP'
            $r = [];
            foreach ([0, 1] as $strict) {
                ini_set('session.use_strict_mode', (string) $strict);
                foreach ($bad as $i => $id) {
                    session_id($id);
                    $start = attempt(fn () => session_start());
                    $used = session_id();
                    if (session_status() === PHP_SESSION_ACTIVE) {
                        $_SESSION['x'] = 1;
                        $start['close'] = attempt(fn () => session_write_close());
                    }
                    $r[] = ['id' => $id, 'strict' => $strict, 'start' => $start, 'used' => $used];
                }
            }
            if (isset($h)) {
                foreach ($bad as $id) {
                    foreach (['read', 'destroy', 'validateId'] as $m) {
                        $r[] = ['id' => $id, 'call' => $m, 'start' => attempt(fn () => $h->$m($id))];
                    }
                    $r[] = ['id' => $id, 'call' => 'write', 'start' => attempt(fn () => $h->write($id, 'x|i:1;'))];
                    $r[] = ['id' => $id, 'call' => 'updateTimestamp', 'start' => attempt(fn () => $h->updateTimestamp($id, 'x|i:1;'))];
                }
            }
            out($r);
            PHP;
        $r = $this->child($mode, $body);
        self::assertFalse($r['timedOut'], DbChild::describe($r));
        self::assertSame(0, $r['exit'], DbChild::describe($r));
        self::assertIsArray($r['out'], DbChild::describe($r));

        foreach ($r['out'] as $case) {
            $desc = json_encode($case, JSON_INVALID_UTF8_SUBSTITUTE | JSON_PARTIAL_OUTPUT_ON_ERROR);
            $res = $case['start'];
            if (isset($case['call'])) {
                // Direct calls on the handler object: refused, or a plain "no" from validateId.
                if ($case['call'] === 'validateId') {
                    self::assertFalse($res['ok'], $desc);
                    self::assertNull($res['error'], $desc);
                } else {
                    self::assertFailedCleanly($mode, $res, 'Cannon\Session\SessionException', ['invalid session id'], $desc);
                }
                continue;
            }
            if ($res['ok'] === false) {
                // PHP handed the id to the handler, which refused it.
                self::assertFailedCleanly($mode, $res, 'Cannon\Session\SessionException', ['invalid session id'], $desc);
            } else {
                // PHP (or strict mode: validateId said no) replaced it with a fresh id.
                self::assertNotSame($case['id'], $case['used'], $desc);
                self::assertMatchesRegularExpression('/^[A-Za-z0-9,-]{22,256}$/', $case['used'], $desc);
            }
        }

        foreach (self::hostileIds() as $id) {
            self::assertSame(0, Db::count(self::table(), $id), 'a row for ' . json_encode($id, JSON_INVALID_UTF8_SUBSTITUTE));
        }
        foreach (Db::ids(self::table()) as $id) {
            self::assertMatchesRegularExpression('/^[A-Za-z0-9,-]{22,256}$/', $id);
        }
    }

    /** @dataProvider modes */
    public function testCustomIdsAreStoredExactlyAndCaseSensitively(string $mode): void
    {
        $ids = [
            'Custom-Id,0123456789',
            'CaseSensitiveId0123456789',
            'casesensitiveid0123456789',
            str_repeat('Z', 255) . 'z', // 256: the longest id
            'a',
            '-,-,',
        ];
        $this->ok($mode, self::vars(['ids' => $ids]) . <<<'PHP'
            foreach ($ids as $i => $id) {
                session_id($id);
                session_start() || exit(2);
                $_SESSION['i'] = $i;
                session_write_close() || exit(3);
            }
            PHP);
        $read = $this->ok($mode, self::vars(['ids' => $ids]) . <<<'PHP'
            $r = [];
            foreach ($ids as $id) {
                session_id($id);
                session_start() || exit(2);
                $r[$id] = [session_id(), $_SESSION['i'] ?? null];
                session_abort();
            }
            out($r);
            PHP);
        foreach ($ids as $i => $id) {
            self::assertSame([$id, $i], $read[$id], "id $id");
            self::assertSame(1, Db::count(self::table(), $id), "row of $id");
        }
        self::assertSame(count($ids), Db::count(self::table()));
    }

    /** @dataProvider modes */
    public function testSessionAbortAndReset(string $mode): void
    {
        $id = self::newId();
        $this->store($mode, $id, "['v' => 1]");
        $out = $this->ok($mode, self::vars(['id' => $id, 'table' => self::table()]) . <<<'PHP'
            $row = function () use ($id, $table): string {
                $st = db()->prepare("SELECT data FROM `$table` WHERE session_id = ?");
                $st->execute([$id]);
                return (string) $st->fetchColumn();
            };
            session_id($id);
            session_start() || exit(2);
            $_SESSION['v'] = 2;
            session_abort() || exit(4);
            $afterAbort = $row();
            session_start() || exit(2);
            $again = $_SESSION;
            $_SESSION['v'] = 3;
            session_reset() || exit(5);
            $afterReset = $_SESSION;
            $_SESSION['w'] = 1;
            session_write_close() || exit(3);
            out(compact('afterAbort', 'again', 'afterReset'));
            PHP);
        self::assertSame('v|i:1;', $out['afterAbort'], 'session_abort() wrote the changes');
        self::assertSame(['v' => 1], $out['again']);
        self::assertSame(['v' => 1], $out['afterReset'], 'session_reset() did not bring back the stored data');
        self::assertSame('v|i:1;w|i:1;', Db::row(self::table(), $id)['data']);
    }

    /** @dataProvider modes */
    public function testTheLongestGeneratedIdsWork(string $mode): void
    {
        $ini = ['session.sid_length' => '256'];
        $id = $this->ok($mode, <<<'PHP'
            session_start() || exit(2);
            $_SESSION['long'] = true;
            $id = session_id();
            session_write_close() || exit(3);
            out($id);
            PHP, $ini);
        self::assertMatchesRegularExpression('/^[A-Za-z0-9,-]{256}$/', $id);
        self::assertSame(['long' => true], $this->load($mode, $id, $ini));
    }

    /** @dataProvider modes */
    public function testUnixSocketConnection(string $mode): void
    {
        $socket = (string) Db::pdo()->query('SELECT @@socket')->fetchColumn();
        if ($socket === '' || !file_exists($socket) || !is_readable($socket)) {
            self::markTestSkipped("the server's socket $socket is not reachable from here");
        }
        $p = Env::mysqlParts();
        $dsn = sprintf('mysql://%s:%s@localhost/%s?', rawurlencode($p['user']), rawurlencode($p['pass']), $p['db'])
            . http_build_query(['socket' => $socket, 'table' => self::table()], '', '&', PHP_QUERY_RFC3986);
        $id = self::newId();
        $r = DbChild::run($mode, $dsn, self::vars(['id' => $id]) . <<<'PHP'
            session_id($id);
            session_start() || exit(2);
            $_SESSION['via'] = 'socket';
            session_write_close() || exit(3);
            PHP);
        self::assertChildOk($r);
        self::assertSame('via|s:6:"socket";', Db::row(self::table(), $id)['data'] ?? null);
        self::assertSame(['via' => 'socket'], $this->load($mode, $id));
    }

    /** The Session object on the database driver: start, close, regenerate, destroy, gc. */
    public function testSessionObjectLifecycle(): void
    {
        $p = Env::mysqlParts();
        $configArray = [
            'session_driver' => 'database', 'host' => $p['host'], 'port' => $p['port'], 'username' => $p['user'],
            'password' => $p['pass'], 'dbname' => $p['db'], 'session_db_table' => self::table(),
        ];
        $config = var_export($configArray, true);
        $unknown = self::newId('Unknown');
        $first = PhpProcess::run(self::vars(['unknown' => $unknown]) . <<<PHP
            \$s = new Cannon\\Session\\Session($config);
            \$id = \$s->start(\$unknown);
            \$s->data['cart'][] = 'apple';
            \$s->data['cart'][] = 'pear';
            \$s->close() || exit(3);
            echo \$id;
            PHP);
        self::assertChildOk($first);
        $id = $first['stdout'];
        self::assertNotSame($unknown, $id, 'an id never issued was adopted');
        self::assertSame(0, Db::count(self::table(), $unknown));
        self::assertSame(1, Db::count(self::table(), $id));

        $second = PhpProcess::run(self::vars(['id' => $id]) . <<<PHP
            \$s = new Cannon\\Session\\Session($config);
            \$s->start(\$id) === \$id || exit(4);
            \$seen = \$s->data;
            \$new = \$s->regenerate();
            \$s->data['user'] = 7;
            \$s->close() || exit(3);
            echo json_encode([\$seen, \$new]);
            PHP);
        self::assertChildOk($second);
        [$seen, $new] = json_decode($second['stdout'], true);
        self::assertSame(['cart' => ['apple', 'pear']], $seen);
        self::assertSame(0, Db::count(self::table(), $id), 'regenerate() kept the old row');
        self::assertSame(['cart' => ['apple', 'pear'], 'user' => 7], (new \Cannon\Session\Session($configArray))->adapter->read($new));

        Db::pdo()->prepare('INSERT INTO `' . self::table() . '` (session_id, data, last_activity, expires_at) VALUES (?, ?, NOW(), UNIX_TIMESTAMP() - 1)')
            ->execute([self::newId('Expired'), 'x|i:1;']);
        $third = PhpProcess::run(self::vars(['new' => $new]) . <<<PHP
            \$s = new Cannon\\Session\\Session($config);
            \$s->start(\$new) === \$new || exit(4);
            \$s->destroy() || exit(5);
            \$s->data === [] || exit(6);
            echo \$s->gc();
            PHP);
        self::assertChildOk($third);
        self::assertSame('1', $third['stdout']);
        self::assertSame(0, Db::count(self::table()));
    }

    // ---- the seed's example --------------------------------------------------------------------

    public function testSeedExampleWithTheDatabaseDriver(): void
    {
        $p = Env::mysqlParts();
        $config = var_export([
            'session_driver' => 'database',
            'host' => $p['host'],
            'port' => $p['port'],
            'username' => $p['user'],
            'password' => $p['pass'],
            'dbname' => $p['db'],
            'session_db_table' => self::table(),
        ], true);
        $first = PhpProcess::run(<<<PHP
            \$s = new Cannon\\Session\\Session($config);
            \$s->start();
            \$s->data['666'] = 123;
            \$s->adapter->write(\$s->getId(), \$s->data);
            echo \$s->getId();
            PHP);
        self::assertChildOk($first);
        $id = $first['stdout'];
        self::assertMatchesRegularExpression('/^[A-Za-z0-9,-]{22,256}$/', $id);
        self::assertSame(1, Db::count(self::table(), $id));

        $second = PhpProcess::run(<<<PHP
            var_export((new Cannon\\Session\\Session($config))->adapter->read('$id'));
            PHP);
        self::assertChildOk($second);
        self::assertSame(var_export([666 => 123], true), $second['stdout']);
    }

    // ---- failures ----------------------------------------------------------------------------------

    /** @dataProvider modes */
    public function testUnreachableServerFailsAtOnce(string $mode): void
    {
        $port = FreePort::get();
        $dsn = (string) preg_replace('#@[^/]*/#', "@127.0.0.1:$port/", $this->dsn());
        $r = DbChild::run($mode, $dsn, self::vars(['id' => self::newId()]) . <<<'PHP'
            session_id($id);
            $t = microtime(true);
            $start = attempt(fn () => session_start());
            $start['took'] = microtime(true) - $t;
            out($start);
            PHP);
        self::assertSame(0, $r['exit'], DbChild::describe($r));
        $start = $r['out'];
        self::assertFailedCleanly($mode, $start, 'Cannon\Session\ConnectionException', ["127.0.0.1:$port", 'refused']);
        self::assertLessThan(0.5, $start['took'], 'a refused connection must fail at once');
    }

    /**
     * Without a session id PHP first asks the handler for a new one (create_sid), which checks it
     * against the store: the failure is still the connection's (PHP would turn an exception from
     * create_sid into Error "Session id must be a string"), reported once, at once.
     * @dataProvider modes
     */
    public function testUnreachableServerWithoutAnIdFailsAtOnce(string $mode): void
    {
        $port = FreePort::get();
        $dsn = (string) preg_replace('#@[^/]*/#', "@127.0.0.1:$port/", $this->dsn());
        $r = DbChild::run($mode, $dsn, <<<'PHP'
            $t = microtime(true);
            $start = attempt(fn () => session_start());
            $start['took'] = microtime(true) - $t;
            out($start);
            PHP);
        self::assertSame(0, $r['exit'], DbChild::describe($r));
        $start = $r['out'];
        self::assertFailedCleanly($mode, $start, 'Cannon\Session\ConnectionException', ["127.0.0.1:$port", 'refused']);
        self::assertLessThan(0.5, $start['took'], 'a refused connection must fail at once');
        if ($mode === DbChild::NATIVE) {
            self::assertCount(1, array_filter($start['warnings'], static fn (string $w) => str_contains($w, 'cannon_session:')), 'the outage is reported once');
        }
    }

    public function hangingCases(): array
    {
        $cases = [];
        foreach (DbChild::modes() as $name => [$mode]) {
            $cases["$name, with a session id"] = [$mode, true];
            $cases["$name, without a session id"] = [$mode, false];
        }
        return $cases;
    }

    /**
     * A server that accepts the connection and never says a word (not even the handshake) costs
     * at most connect_timeout + timeout.
     * @dataProvider hangingCases
     */
    public function testHangingServerIsBounded(string $mode, bool $withId): void
    {
        $hang = FakeServer::hangingTcp(60);
        try {
            $dsn = (string) preg_replace('#@[^/]*/#', "@127.0.0.1:{$hang['port']}/", $this->dsn(['connect_timeout' => '0.5', 'timeout' => '0.5']));
            $r = DbChild::run($mode, $dsn, self::vars(['id' => $withId ? self::newId() : null]) . <<<'PHP'
                if ($id !== null) {
                    session_id($id);
                }
                $t = microtime(true);
                $start = attempt(fn () => session_start());
                $start['took'] = microtime(true) - $t;
                out($start);
                PHP);
        } finally {
            FakeServer::stop($hang['pid']);
        }
        self::assertSame(0, $r['exit'], DbChild::describe($r));
        $start = $r['out'];
        // Without an id, create_sid() meets the timeout first and the read reports it without
        // waiting a second time.
        self::assertLessThan(1.0 + 0.4, $start['took'], 'at most connect_timeout 0.5 + timeout 0.5');
        self::assertGreaterThanOrEqual(0.45, $start['took'], 'gave up before the timeout');
        self::assertFailedCleanly($mode, $start, 'Cannon\Session\ConnectionException', ['timed out']);
    }

    /** @dataProvider modes */
    public function testWrongPasswordFailsCleanlyAndIsNeverShown(string $mode): void
    {
        $secret = 'Wr0ngPw' . bin2hex(random_bytes(8));
        $p = Env::mysqlParts();
        $body = self::vars(['id' => self::newId()]) . <<<'PHP'
            session_id($id);
            $t = microtime(true);
            $start = attempt(fn () => session_start());
            $start['took'] = microtime(true) - $t;
            out($start);
            phpinfo();
            if (isset($h)) {
                var_dump($h);
                print_r($h);
                var_export($h);
            }
            PHP;
        if ($mode === DbChild::NATIVE) {
            // PHP itself prints session.save_path in its warnings and phpinfo(): the password
            // goes in a file, as the README says.
            $file = tempnam(sys_get_temp_dir(), 'cannon-pw-');
            file_put_contents($file, $secret . "\n");
            try {
                $dsn = sprintf('mysql://%s@%s:%d/%s?table=%s&password_file=%s', $p['user'], $p['host'], $p['port'], $p['db'], self::table(), $file);
                $runs = [DbChild::run($mode, $dsn, $body)];
            } finally {
                unlink($file);
            }
        } else {
            $dsn = sprintf('mysql://%s:%s@%s:%d/%s?table=%s', $p['user'], $secret, $p['host'], $p['port'], $p['db'], self::table());
            $array = [
                'host' => $p['host'], 'port' => $p['port'], 'username' => $p['user'], 'password' => $secret,
                'dbname' => $p['db'], 'table' => self::table(),
            ];
            $runs = [
                DbChild::run($mode, $dsn, $body),
                // the same through an options array
                PhpProcess::run(DbChild::prelude() . '$h = new Cannon\Session\DatabaseHandler(' . var_export($array, true) . ");\n"
                    . "session_set_save_handler(\$h, true);\n" . $body, DbChild::ini($mode, $dsn)),
            ];
            $runs[1]['out'] = DbChild::decode($runs[1]['stdout']);
        }
        foreach ($runs as $r) {
            self::assertSame(0, $r['exit'], DbChild::describe($r));
            self::assertFailedCleanly($mode, $r['out'], 'Cannon\Session\ConnectionException', ['Access denied']);
            self::assertLessThan(1.0, $r['out']['took']);
            self::assertStringContainsString('cannon_session', $r['stdout'], 'phpinfo() ran');
            foreach (['stdout' => $r['stdout'], 'stderr' => $r['stderr'], 'report' => serialize($r['out'])] as $where => $text) {
                self::assertStringNotContainsString($secret, $text, "the password shows in $where");
            }
        }
    }
}
