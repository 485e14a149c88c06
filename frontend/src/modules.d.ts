// Packages without their own types, as far as this app uses them.
declare module "prismjs/components/prism-protobuf";
declare module "prismjs/components/prism-graphql";
declare module "js-yaml" {
  export function load(src: string): unknown;
}
