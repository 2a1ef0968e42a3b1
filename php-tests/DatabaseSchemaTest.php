<?php

declare(strict_types=1);

namespace Cannon\Session\Tests;

use Cannon\Session\ConfigException;
use Cannon\Session\DatabaseHandler;
use Cannon\Session\Session;
use Cannon\Session\Tests\DatabaseFixtures\DatabaseTestCase;
use Cannon\Session\Tests\DatabaseFixtures\Db;
use Cannon\Session\Tests\DatabaseFixtures\DbChild;
use Cannon\Session\Tests\Support\Env;

require_once __DIR__ . '/fixtures/database/DatabaseTestCase.php';

/**
 * The session table: what createTable() and auto_create=1 make, what the errors say about a
 * missing or an old-layout table (and that running the statement they name is enough), and that
 * the table name cannot carry SQL. Every table a test makes is its own and dropped afterwards.
 */
final class DatabaseSchemaTest extends DatabaseTestCase
{
    /** @var list<string> tables to drop after the test */
    private array $made = [];

    protected static function tableTag(): string
    {
        return 'schema';
    }

    protected function tearDown(): void
    {
        Db::drop(...$this->made);
        $this->made = [];
    }

    public function modes(): array
    {
        return DbChild::modes();
    }

    /** A fresh table name, dropped after the test (it does not exist yet). */
    private function newTable(string $what): string
    {
        $t = Db::uniqueTable($what);
        $this->made[] = $t;
        return $t;
    }

    private static function showCreate(string $table): string
    {
        return (string) Db::pdo()->query("SHOW CREATE TABLE `$table`")->fetch(\PDO::FETCH_NUM)[1];
    }

    /** SHOW CREATE TABLE has the schema the README documents. */
    private static function assertOurSchema(string $table): void
    {
        $sql = self::showCreate($table);
        self::assertStringContainsString('`session_id` varbinary(256) NOT NULL', $sql);
        self::assertStringContainsString('`data` longblob NOT NULL', $sql);
        self::assertStringContainsString('`last_activity` datetime NOT NULL', $sql);
        self::assertMatchesRegularExpression('/`expires_at` bigint(\(20\))? unsigned NOT NULL/', $sql);
        self::assertStringContainsString('PRIMARY KEY (`session_id`)', $sql);
        self::assertStringContainsString('KEY `idx_expires_at` (`expires_at`)', $sql);
        self::assertStringContainsString('ENGINE=InnoDB', $sql);
    }

    /** A child that starts a session on $id, sets n, closes it: attempt() results per step. */
    private static function cycle(string $mode, string $dsn, string $id, int $n): array
    {
        $r = DbChild::run($mode, $dsn, self::vars(['id' => $id, 'n' => $n]) . <<<'PHP'
            session_id($id);
            $start = attempt(fn () => session_start());
            $seen = $_SESSION ?? null;
            $close = null;
            if (session_status() === PHP_SESSION_ACTIVE) {
                $_SESSION['n'] = $n;
                $close = attempt(fn () => session_write_close());
            }
            out(['start' => $start, 'seen' => $seen, 'close' => $close]);
            PHP);
        self::assertSame(0, $r['exit'], DbChild::describe($r));
        return $r['out'];
    }

    /** The message of a failed step, whichever way the mode reports it. */
    private static function message(array $attempt): string
    {
        return $attempt['error'] ?? implode("\n", $attempt['warnings']);
    }

    // ---- createTable() and auto_create -------------------------------------------------------------

    public function testCreateTableMakesTheDocumentedSchema(): void
    {
        $table = $this->newTable('create');
        self::assertTrue(DatabaseHandler::createTable(Db::dsn($table)));
        self::assertOurSchema($table);
        $sql = self::showCreate($table);

        // Again (IF NOT EXISTS), and through an options array.
        $p = Env::mysqlParts();
        self::assertTrue(DatabaseHandler::createTable([
            'host' => $p['host'], 'port' => $p['port'], 'username' => $p['user'], 'password' => $p['pass'],
            'dbname' => $p['db'], 'table' => $table,
        ]));
        self::assertSame($sql, self::showCreate($table));
    }

    public function testCreateTableSqlIsTheReadmeSchema(): void
    {
        $readme = (string) file_get_contents(Env::repoRoot() . '/README.md');
        self::assertMatchesRegularExpression('/## Database schema\s+```sql\n(.*?)\n```/s', $readme);
        preg_match('/## Database schema\s+```sql\n(.*?)\n```/s', $readme, $m);
        $norm = static fn (string $s): string => trim((string) preg_replace('/\s+/', ' ', $s));
        self::assertSame($norm($m[1]), $norm(DatabaseHandler::createTableSql()));
        self::assertStringContainsString('`cannon_session`', DatabaseHandler::createTableSql());
        self::assertSame(
            str_replace('`cannon_session`', '`Other_Table_9`', DatabaseHandler::createTableSql()),
            DatabaseHandler::createTableSql('Other_Table_9')
        );
    }

    /** @dataProvider modes */
    public function testAutoCreateMakesTheTableOnFirstUse(string $mode): void
    {
        $table = $this->newTable('auto');
        $id = self::newId();
        self::assertFalse(Db::tableExists($table));
        $out = self::cycle($mode, Db::dsn($table, ['auto_create' => 1]), $id, 1);
        self::assertSame([true, true], [$out['start']['ok'], $out['close']['ok']], var_export($out, true));
        self::assertSame([], $out['start']['warnings']);
        self::assertTrue(Db::tableExists($table));
        self::assertOurSchema($table);
        self::assertSame('n|i:1;', Db::row($table, $id)['data'] ?? null);
    }

    /**
     * Without auto_create a missing table is an error naming the CREATE TABLE to run; once it
     * has been run, sessions work (no restart needed).
     * @dataProvider modes
     */
    public function testMissingTableNamesTheCreateTableToRun(string $mode): void
    {
        $table = $this->newTable('missing');
        $id = self::newId();
        $out = self::cycle($mode, Db::dsn($table), $id, 1);
        self::assertFailedCleanly($mode, $out['start'], 'Cannon\Session\SessionException', ["`test`.`$table` does not exist", 'auto_create=1']);
        self::assertFalse(Db::tableExists($table), 'nothing was created without auto_create');

        $msg = self::message($out['start']);
        self::assertMatchesRegularExpression('/CREATE TABLE IF NOT EXISTS `' . $table . '` \(.*?\) ENGINE=InnoDB;/s', $msg);
        preg_match('/CREATE TABLE IF NOT EXISTS `' . $table . '` \(.*?\) ENGINE=InnoDB;/s', $msg, $m);
        Db::pdo()->exec($m[0]);

        $out = self::cycle($mode, Db::dsn($table), $id, 2);
        self::assertTrue($out['start']['ok'], var_export($out, true));
        self::assertSame([], $out['start']['warnings']);
        self::assertSame('n|i:2;', Db::row($table, $id)['data'] ?? null);
    }

    // ---- the seed's older layout -----------------------------------------------------------------

    /**
     * The seed's documented table has no data column and no unique key. The error names the
     * exact ALTER TABLE; after running it, sessions work, old rows (expires_at 0) are never read,
     * gc removes them, and repeated writes do not burn AUTO_INCREMENT values.
     * @dataProvider modes
     */
    public function testOldLayoutNamesTheAlterTableAndWorksAfterIt(string $mode): void
    {
        $table = $this->newTable('old');
        $pdo = Db::pdo();
        $pdo->exec("CREATE TABLE `$table` (id INT NOT NULL AUTO_INCREMENT, session_id VARCHAR(255) NOT NULL, last_activity DATETIME NOT NULL, PRIMARY KEY (id))");
        $legacy = self::newId('Legacy');
        $pdo->prepare("INSERT INTO `$table` (session_id, last_activity) VALUES (?, NOW())")->execute([$legacy]);
        $id = self::newId();

        $out = self::cycle($mode, Db::dsn($table), $id, 1);
        self::assertFailedCleanly($mode, $out['start'], 'Cannon\Session\SessionException', ['ALTER TABLE', 'no data column', 'no expires_at column']);
        $msg = self::message($out['start']);
        self::assertMatchesRegularExpression('/ALTER TABLE `' . $table . '` [^;]+;/', $msg);
        preg_match('/ALTER TABLE `' . $table . '` [^;]+;/', $msg, $m);
        self::assertStringNotContainsString('cannon_session', $m[0]);
        self::assertSame(1, Db::count($table), 'the failed request changed the table');

        $pdo->exec($m[0]);

        // Written by one process, then changed by another, read by a third.
        $first = self::cycle($mode, Db::dsn($table), $id, 1);
        self::assertSame([true, true, []], [$first['start']['ok'], $first['close']['ok'], $first['start']['warnings']], var_export($first, true));
        $autoInc = static function () use ($pdo, $table): int {
            $st = $pdo->prepare('SELECT AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?');
            $st->execute([$table]);
            return (int) $st->fetchColumn();
        };
        $before = $autoInc();
        for ($n = 2; $n <= 4; $n++) {
            $again = self::cycle($mode, Db::dsn($table), $id, $n);
            self::assertSame(['n' => $n - 1], $again['seen']);
            self::assertTrue($again['close']['ok']);
        }
        self::assertSame($before, $autoInc(), 'updating an existing session used up AUTO_INCREMENT values');
        self::assertSame(1, Db::count($table, $id));
        self::assertSame('n|i:4;', Db::row($table, $id)['data']);

        // The pre-existing row got expires_at 0 from the ALTER: expired, never read.
        $legacyRead = self::cycle($mode, Db::dsn($table), $legacy, 9);
        self::assertSame([], $legacyRead['seen']);

        // The named ALTER also makes session_id VARBINARY(256): ids compare byte for byte (a
        // case-insensitive VARCHAR would let `ABC...` read `abc...`'s session) and 256-character
        // ids fit.
        self::assertStringContainsString('MODIFY COLUMN session_id VARBINARY(256)', $m[0]);
        $upper = strtoupper($id);
        $other = self::cycle($mode, Db::dsn($table), $upper, 1);
        self::assertSame([], $other['seen'], 'a case variant of an id read its session');
        $long = str_repeat('L', 256);
        $longCycle = self::cycle($mode, Db::dsn($table), $long, 1);
        self::assertTrue($longCycle['close']['ok'], var_export($longCycle, true));
        self::assertSame(1, Db::count($table, $long));
    }

    // ---- schema problems are named precisely ------------------------------------------------------

    public function testATooSmallDataColumnNamesTheFixOrALowerMaxSize(): void
    {
        $table = $this->newTable('blob');
        Db::pdo()->exec("CREATE TABLE `$table` (session_id VARBINARY(256) NOT NULL PRIMARY KEY, data BLOB NOT NULL, last_activity DATETIME NULL, expires_at BIGINT UNSIGNED NOT NULL, KEY (expires_at))");
        $h = new DatabaseHandler(Db::dsn($table));
        try {
            $h->read(self::newId());
            self::fail('a 64 KB data column was accepted for max_size 16 MB');
        } catch (\Cannon\Session\SessionException $e) {
            self::assertStringContainsString("ALTER TABLE `$table` MODIFY COLUMN data LONGBLOB NOT NULL;", $e->getMessage());
            self::assertStringContainsString('max_size', $e->getMessage());
        }
        $h = new DatabaseHandler(Db::dsn($table, ['max_size' => 60000]));
        $id = self::newId();
        self::assertTrue($h->write($id, 'x|i:1;'));
        self::assertSame('x|i:1;', $h->read($id));
        $h->close();
    }

    /**
     * A table dropped under a running process (the checked schema is cached) fails one request
     * at most; with auto_create=1 the next request creates it again.
     * @dataProvider modes
     */
    public function testTableDroppedWhileAProcessRunsFailsOneRequestAtMost(string $mode): void
    {
        $table = $this->newTable('dropped');
        $r = DbChild::run($mode, Db::dsn($table, ['auto_create' => 1]), self::vars(['id' => self::newId(), 'table' => $table]) . <<<'PHP'
            $cycle = function (int $n) use ($id): array {
                return attempt(function () use ($id, $n) {
                    session_id($id);
                    if (!session_start()) {
                        return false;
                    }
                    $_SESSION['n'] = $n;
                    return session_write_close();
                });
            };
            $r = [$cycle(1)];
            db()->exec("DROP TABLE `$table`");
            for ($n = 2; $n <= 4; $n++) {
                $r[] = $cycle($n);
                if (session_status() === PHP_SESSION_ACTIVE) {
                    session_abort();
                }
            }
            out($r);
            PHP);
        self::assertSame(0, $r['exit'], DbChild::describe($r));
        $ok = array_map(static fn (array $a) => $a['ok'] === true && $a['warnings'] === [], $r['out']);
        self::assertTrue($ok[0]);
        self::assertLessThanOrEqual(1, count(array_filter($ok, static fn (bool $b) => !$b)), var_export($r['out'], true));
        self::assertTrue($ok[3], 'the table was not created again');
        self::assertTrue(Db::tableExists($table));
    }

    // ---- SQL injection through the table name ------------------------------------------------------

    /** @return list<string> */
    private static function hostileTables(string $canary): array
    {
        return [
            "cannon_session; DROP TABLE $canary",
            "a'b",
            'a`b',
            "x`; DROP TABLE `$canary`; -- ",
            "$canary` (id INT); DROP TABLE `$canary",
            'tbl name',
            "t\u{e9}ble",
            "t\0x",
            'a-b',
            'db.table',
            str_repeat('a', 65),
        ];
    }

    public function testInjectionThroughTheTableNameIsRefusedEverywhere(): void
    {
        $canary = $this->newTable('canary');
        Db::pdo()->exec("CREATE TABLE `$canary` (id INT)");
        Db::pdo()->exec("INSERT INTO `$canary` VALUES (1)");
        $p = Env::mysqlParts();
        $parts = ['host' => $p['host'], 'port' => $p['port'], 'username' => $p['user'], 'password' => $p['pass'], 'dbname' => $p['db']];
        $base = Env::mysqlDsn();
        $before = Db::pdo()->query('SHOW TABLES')->fetchAll(\PDO::FETCH_COLUMN);

        $hostile = self::hostileTables($canary);
        foreach ($hostile as $name) {
            $q = rawurlencode($name);
            $ways = [
                'DSN' => fn () => new DatabaseHandler("$base?table=$q&auto_create=1"),
                'dsn + table option' => fn () => new DatabaseHandler(['dsn' => $base, 'table' => $name, 'auto_create' => 1]),
                'options array' => fn () => new DatabaseHandler($parts + ['table' => $name, 'auto_create' => 1]),
                'createTable(DSN)' => fn () => DatabaseHandler::createTable("$base?table=$q"),
                'createTable(array)' => fn () => DatabaseHandler::createTable($parts + ['table' => $name]),
                'createTableSql()' => fn () => DatabaseHandler::createTableSql($name),
                'Session' => fn () => new Session(['session_driver' => 'database', 'session_db_table' => $name] + $parts),
            ];
            foreach ($ways as $way => $fn) {
                try {
                    $fn();
                    self::fail("$way accepted the table name " . json_encode($name, JSON_INVALID_UTF8_SUBSTITUTE));
                } catch (ConfigException $e) {
                    self::assertStringContainsString('invalid table', $e->getMessage(), $way);
                    self::assertStringNotContainsString($p['pass'], $e->getMessage());
                }
            }
        }

        // The native handler, with each name in session.save_path.
        $dsns = array_map(static fn (string $n) => "$base?table=" . rawurlencode($n) . '&auto_create=1', $hostile);
        $r = DbChild::run(DbChild::NATIVE, Db::dsn(self::table()), self::vars(['dsns' => $dsns, 'id' => self::newId()]) . <<<'PHP'
            $r = [];
            foreach ($dsns as $dsn) {
                ini_set('session.save_path', $dsn);
                session_id($id);
                $r[] = attempt(fn () => session_start());
                if (session_status() === PHP_SESSION_ACTIVE) {
                    session_write_close();
                }
            }
            out($r);
            PHP);
        self::assertSame(0, $r['exit'], DbChild::describe($r));
        self::assertCount(count($hostile), $r['out']);
        foreach ($r['out'] as $i => $start) {
            self::assertFailedCleanly(DbChild::NATIVE, $start, '', ['invalid session.save_path', 'invalid table'], $hostile[$i]);
        }

        self::assertTrue(Db::tableExists($canary), 'the canary table was dropped');
        self::assertSame(1, (int) Db::pdo()->query("SELECT COUNT(*) FROM `$canary`")->fetchColumn());
        self::assertSame($before, Db::pdo()->query('SHOW TABLES')->fetchAll(\PDO::FETCH_COLUMN), 'a table was created or dropped');
    }

    public function testInjectionThroughTheDatabaseNameIsRefused(): void
    {
        $p = Env::mysqlParts();
        foreach (["test`; DROP TABLE x; -- ", "te'st", 'te st'] as $db) {
            try {
                new DatabaseHandler(sprintf('mysql://%s:%s@%s:%d/%s', $p['user'], $p['pass'], $p['host'], $p['port'], rawurlencode($db)));
                self::fail('accepted the database name ' . $db);
            } catch (ConfigException $e) {
                self::assertStringContainsString('invalid dbname', $e->getMessage());
            }
        }
    }

    public function testTheLongestValidTableNameWorks(): void
    {
        $table = substr('cs_long_' . bin2hex(random_bytes(32)), 0, 64);
        $this->made[] = $table;
        self::assertTrue(DatabaseHandler::createTable(Db::dsn($table)));
        $h = new DatabaseHandler(Db::dsn($table));
        $id = self::newId();
        self::assertTrue($h->write($id, 'x|i:1;'));
        self::assertSame('x|i:1;', $h->read($id));
        $h->close();
    }
}
