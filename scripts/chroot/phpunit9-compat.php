<?php
// Makes Debian 12's PHPUnit 9.6.7 (a private copy, unpacked by scripts/chroot-php.sh) compile
// without deprecations on PHP 8.4 and 8.5, the changes upstream made in later 9.6 releases:
//   - a typed parameter with a null default must say so in its type: `Foo $x = null` becomes
//     `?Foo $x = null` (PHP 8.4 deprecates the implicit form);
//   - the E_STRICT constant is deprecated in 8.4: its value, 2048, is used instead;
//   - the casts (double), (integer), (boolean), (binary) are deprecated in 8.5: (float), (int),
//     (bool), (string).
// Usage: php phpunit9-compat.php <dir>   Prints how many files changed; exits 1 if any file in
// <dir> still compiles with a deprecation afterwards.
declare(strict_types=1);

$dir = $argv[1] ?? '';
if ($dir === '' || !is_dir($dir)) {
    fwrite(STDERR, "usage: php phpunit9-compat.php <dir>\n");
    exit(2);
}

$param = '~(?<lead>[(,]\s*(?:(?:public|protected|private|readonly)\s+)*)'
    . '(?<type>[A-Za-z_\\\\][A-Za-z0-9_\\\\]*)'
    . '(?<rest>\s+&?\s*(?:\.\.\.)?\$[A-Za-z_][A-Za-z0-9_]*\s*=\s*null\b)~i';

/** Rewrites the cast tokens PHP 8.5 deprecates; strings and comments are left alone. */
function canonicalCasts(string $src): string
{
    $map = ['double' => 'float', 'real' => 'float', 'integer' => 'int', 'boolean' => 'bool', 'binary' => 'string'];
    $out = '';
    foreach (PhpToken::tokenize($src) as $t) {
        $text = $t->text;
        if ($t->is([T_DOUBLE_CAST, T_INT_CAST, T_BOOL_CAST, T_STRING_CAST])) {
            $word = strtolower(trim($text, "() \t"));
            if (isset($map[$word])) {
                $text = '(' . $map[$word] . ')';
            }
        }
        $out .= $text;
    }
    return $out;
}

chdir('/');
$changed = 0;
$files = new RecursiveIteratorIterator(new RecursiveDirectoryIterator($dir, FilesystemIterator::SKIP_DOTS));
foreach ($files as $file) {
    if (!$file->isFile() || $file->getExtension() !== 'php') {
        continue;
    }
    $path = $file->getPathname();
    $src = file_get_contents($path);
    $new = preg_replace_callback($param, static function (array $m): string {
        if (in_array(strtolower($m['type']), ['mixed', 'null'], true)) {
            return $m[0];
        }
        return $m['lead'] . '?' . $m['type'] . $m['rest'];
    }, $src);
    // A nullable parameter with a default, followed by a required one, was required all along:
    // written `?Foo $x = null, Bar $y`, PHP 8.1+ deprecates the default; drop it.
    $new = preg_replace('~(\?[A-Za-z_\\\\][A-Za-z0-9_\\\\]*\s+&?\s*\$[A-Za-z_][A-Za-z0-9_]*)\s*=\s*null(?=\s*,\s*[A-Za-z0-9_\\\\?|&. ]*\$[A-Za-z_][A-Za-z0-9_]*\s*[,)])~', '$1', $new);
    $new = preg_replace('/^\s*use const E_STRICT;\s*\n/m', '', $new);
    $new = preg_replace('/(?<![\w\\\\])E_STRICT\b/', '2048 /* E_STRICT */', $new);
    $new = canonicalCasts($new);
    if ($new !== $src) {
        file_put_contents($path, $new);
        $changed++;
    }
}
echo "phpunit9-compat: $changed files changed\n";

// Compile every file again and look for deprecations.
$bad = 0;
foreach (new RecursiveIteratorIterator(new RecursiveDirectoryIterator($dir, FilesystemIterator::SKIP_DOTS)) as $file) {
    if (!$file->isFile() || $file->getExtension() !== 'php') {
        continue;
    }
    $out = shell_exec(escapeshellarg(PHP_BINARY) . ' -n -d error_reporting=-1 -d display_errors=stderr -l '
        . escapeshellarg($file->getPathname()) . ' 2>&1');
    if (is_string($out) && (str_contains($out, 'Deprecated:') || str_contains($out, 'Parse error:'))) {
        fwrite(STDERR, $out);
        $bad++;
    }
}
exit($bad === 0 ? 0 : 1);
