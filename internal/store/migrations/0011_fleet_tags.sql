-- A blue/green group's replacement tags become one tag group that stands in for the first of
-- the group's tag groups; the group's other tag groups select both fleets. They were a whole tag
-- set of their own, so a group created with --tag fleet=blue --tag-group app=shop
-- --replacement-tag fleet=green deployed to any fleet=green host, and a swap moved app=shop from
-- the serving fleet to the replacement side.
--
-- A group whose tags are one tag group while its replacement tags have more is one such swap
-- left behind: its shared tag groups move back to the group's tags.
UPDATE deployment_groups
SET tags = json_replace(blue_green -> '$.replacement_tags', '$[0]', tags -> '$[0]')
WHERE json_type(blue_green, '$.replacement_tags') = 'array'
  AND json_array_length(tags) = 1
  AND json_array_length(blue_green, '$.replacement_tags') > 1;

-- The replacement fleet keeps its first tag group, its own.
UPDATE deployment_groups
SET blue_green = json_remove(
      json_set(blue_green, '$.replacement_tag_group', blue_green -> '$.replacement_tags[0]'),
      '$.replacement_tags')
WHERE json_type(blue_green, '$.replacement_tags') = 'array'
  AND json_array_length(blue_green, '$.replacement_tags') > 0;

UPDATE deployment_groups
SET blue_green = json_remove(blue_green, '$.replacement_tags')
WHERE json_type(blue_green, '$.replacement_tags') IS NOT NULL;
