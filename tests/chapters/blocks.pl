#!/usr/bin/perl
# tests/chapters/blocks.pl — the two pieces of tests/chapters/run that are
# easier in Perl than in bash (perl-base is on every Debian):
#
#   blocks.pl extract CHAPTER.md OUTDIR
#       writes each fenced block whose info string carries a role
#       (run, start, expect, log, skip) to OUTDIR/NNN, and one line per block
#       to OUTDIR/index: "NNN<TAB>LINE<TAB>INFO" (LINE: the fence's line in
#       the chapter). Unmarked blocks are prose to the runner: not listed.
#   blocks.pl match expect|log EXPECTED OBSERVED
#       exits 0 when OBSERVED fits EXPECTED; otherwise prints the first
#       mismatch (expected line number, expected text, observed text), exit 1.
#
# Matching (docs/conventions.md, "Checked chapters"): a line that is just
# `...` matches any number of lines (none too); `...` inside a line matches
# any text within that line; trailing blanks never count. `expect` wants
# the whole output, in order; `log` wants its lines in order somewhere in
# the server's output, other lines between them allowed.
use strict;
use warnings;

my %roles = map { $_ => 1 } qw(run start expect log skip);

sub extract {
    my ($md, $out) = @_;
    open(my $in, '<', $md) or die "cannot read $md: $!\n";
    open(my $idx, '>', "$out/index") or die "cannot write $out/index: $!\n";
    my ($n, $line, $open, $indent, $info, $fh) = (0, 0, 0, '', '', undef);
    while (my $text = <$in>) {
        $line++;
        if (!$open && $text =~ /^( *)```\s*(.*?)\s*$/) {
            ($indent, $info) = ($1, $2);
            $open = 1;
            my @words = split /\s+/, $info;
            if (grep { $roles{$_} } @words) {
                $n++;
                my $name = sprintf('%03d', $n);
                print $idx "$name\t$line\t$info\n";
                open($fh, '>', "$out/$name") or die "cannot write $out/$name: $!\n";
            }
            next;
        }
        if ($open && $text =~ /^ *```\s*$/) {
            $open = 0;
            close($fh) if $fh;
            $fh = undef;
            next;
        }
        if ($open && $fh) {
            $text =~ s/^\Q$indent\E//;
            print $fh $text;
        }
    }
    die "$md: a fenced block opened at the end is never closed\n" if $open;
    close($idx);
}

sub lines_of {
    my ($file) = @_;
    open(my $in, '<', $file) or die "cannot read $file: $!\n";
    # What a terminal ends up showing: trailing blanks (CRLF's CR too) do
    # not count, and a carriage return inside a line (a progress meter)
    # leaves only the text after it.
    my @lines = map { my $l = s/\s+$//r; $l =~ s/^.*\r//; $l } <$in>;
    pop @lines while @lines && $lines[-1] eq '';
    return @lines;
}

# One expected line as a regex: `...` is any text, the rest literal.
sub line_re {
    my ($want) = @_;
    my $re = join('.*', map { quotemeta } split(/\.\.\./, $want, -1));
    return qr/^$re$/;
}

sub show { my ($s) = @_; return defined $s ? "\"$s\"" : '(end of output)'; }

# Greedy, line by line: a `...` line skips observed lines up to the first
# one that matches the next expected line. Simple to predict when reading.
sub match_expect {
    my ($want, $got) = @_;
    my ($i, $j) = (0, 0);
    while ($i < @$want) {
        if ($want->[$i] eq '...') {
            $i++;
            return 1 if $i == @$want;
            my $re = line_re($want->[$i]);
            $j++ while $j < @$got && $got->[$j] !~ $re;
            next;
        }
        my $re = line_re($want->[$i]);
        if ($j >= @$got || $got->[$j] !~ $re) {
            printf "expected line %d %s, observed %s\n", $i + 1, show($want->[$i]),
                show($got->[$j]);
            return 0;
        }
        $i++; $j++;
    }
    return 1 if $j == @$got;
    printf "expected end of output after line %d, observed %s\n", scalar(@$want), show($got->[$j]);
    return 0;
}

sub match_log {
    my ($want, $got) = @_;
    my $j = 0;
    for my $i (0 .. $#$want) {
        next if $want->[$i] eq '...';
        my $re = line_re($want->[$i]);
        $j++ while $j < @$got && $got->[$j] !~ $re;
        if ($j >= @$got) {
            printf "expected log line %d %s, not in the log%s\n", $i + 1, show($want->[$i]),
                @$got ? " (last line: " . show($got->[-1]) . ")" : ' (empty)';
            return 0;
        }
        $j++;
    }
    return 1;
}

my $cmd = shift // '';
if ($cmd eq 'extract' && @ARGV == 2) {
    extract(@ARGV);
} elsif ($cmd eq 'match' && @ARGV == 3 && $ARGV[0] =~ /^(expect|log)$/) {
    my ($how, $want_file, $got_file) = @ARGV;
    my @want = lines_of($want_file);
    my @got = lines_of($got_file);
    exit(($how eq 'expect' ? match_expect(\@want, \@got) : match_log(\@want, \@got)) ? 0 : 1);
} else {
    print STDERR "usage: blocks.pl extract CHAPTER.md OUTDIR | match expect|log EXPECTED OBSERVED\n";
    exit 2;
}
