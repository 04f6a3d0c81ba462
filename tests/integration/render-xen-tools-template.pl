#!/usr/bin/perl
# Renders a xen-tools template (xm.tmpl) the way xen-create-image does: with
# Text::Template, the variables as template globals.
#   render-xen-tools-template.pl TEMPLATE JSON-OBJECT-OF-VARIABLES
use strict;
use warnings;
use JSON::PP;
use Text::Template;

my ($path, $json) = @ARGV;
die "usage: $0 TEMPLATE JSON\n" unless defined $json;
my $vars = decode_json($json);
my %hash;
for my $key (keys %$vars) {
    # Array and hash values arrive as references, which is how
    # Text::Template wants them (@PARTITIONS).
    $hash{$key} = $vars->{$key};
}
my $template = Text::Template->new(TYPE => 'FILE', SOURCE => $path)
    or die "cannot read $path: $Text::Template::ERROR\n";
my $out = $template->fill_in(HASH => \%hash, BROKEN => sub { my %a = @_; die "template error: $a{error}\n" });
defined $out or die "cannot fill in $path: $Text::Template::ERROR\n";
print $out;
